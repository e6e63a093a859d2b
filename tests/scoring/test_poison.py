"""Poison is isolated: a row that cannot be scored fails alone, with its reason; a rule that fails
is skipped and counted; a broken champion file keeps rows pending; training skips what it cannot
use and says so."""

from __future__ import annotations

import ast
import shutil
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.utils import timezone

from scoring import services
from scoring.engine.features import usable_rows
from scoring.engine.ml import ModelIntegrityError
from scoring.engine.rules import compile_rule, rules_apply
from scoring.models import Rule, Transaction
from scoring.selectors import training_frame
from scoring.services.ingest import transactions_requeue_stale, transactions_submit
from scoring.services.registry import champion_cache
from scoring.services.rules import rule_preview
from scoring.services.scoring import transactions_score
from tests.helpers import api_items, load_history, split_history


@pytest.fixture
def world(db, champion, synthetic_history):
    """A dozen of the last day's transactions stored pending, with their accounts' history."""
    older, recent = split_history(synthetic_history, days=1)
    recent = recent.tail(12)
    load_history(older[older["account_id"].isin(set(recent["account_id"]))])
    items = api_items(recent)
    ids = transactions_submit(items=items, source=Transaction.Source.API, mode="sync").ids
    return ids


def legacy_row(**fields) -> Transaction:
    """A row as stored before the validator's bounds existed (written past the validator)."""
    values = {
        "external_id": "legacy-1",
        "account_id": "acct-legacy",
        "amount": "10.00",
        "currency": "EUR",
        "occurred_at": datetime(2300, 1, 1, tzinfo=UTC),
        "status": Transaction.Status.PENDING,
        **fields,
    }
    return Transaction.objects.create(**values)


@pytest.mark.django_db
def test_a_row_dated_2300_fails_alone_and_the_batch_is_scored(world):
    poison = legacy_row()
    outcome = transactions_score(transaction_ids=[*world, poison.id])
    assert outcome.scored == len(world) and outcome.failed == 1
    poison.refresh_from_db()
    assert poison.status == Transaction.Status.FAILED
    assert "occurred_at outside" in poison.error
    scored = Transaction.objects.filter(id__in=world)
    assert not scored.exclude(status=Transaction.Status.SCORED).exists()


@pytest.mark.django_db
def test_a_batch_of_only_unusable_rows_reports_them_failed(champion):
    poison = legacy_row()
    outcome = transactions_score(transaction_ids=[poison.id])
    assert (outcome.scored, outcome.failed) == (0, 1)
    poison.refresh_from_db()
    assert poison.status == Transaction.Status.FAILED
    # Run again: nothing pending is left, and the lock query is all that runs in the batch.
    assert transactions_score(transaction_ids=[poison.id]).failed == 0


@pytest.mark.django_db
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_bc_date_on_postgresql_is_failed_without_being_read(world):
    poison = legacy_row(occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scoring_transaction SET occurred_at = '0001-01-01 00:00:00+00 BC' "
            "WHERE id = %s",
            [poison.id],
        )
    outcome = transactions_score(transaction_ids=[*world, poison.id])
    assert outcome.scored == len(world) and outcome.failed == 1
    status, error = Transaction.objects.filter(id=poison.id).values_list("status", "error")[0]
    assert status == Transaction.Status.FAILED and "occurred_at outside" in error
    frame = training_frame()
    assert frame.attrs["skipped"] == {"occurred_at missing or outside 1678-2262": 1}


@pytest.mark.django_db
def test_a_row_whose_features_fail_is_failed_with_its_reason_and_shown_by_the_api(
    world, api_client, monkeypatch
):
    """Injected fault: explaining raises whenever one chosen row is among the rows scored."""
    poison_id = world[5]
    real = services.scoring.explain

    def poisoned(artifact, features, raw, proba):
        if (raw["id"] == poison_id).any():
            raise ValueError("injected: this row cannot be featurised")
        return real(artifact, features, raw, proba)

    monkeypatch.setattr(services.scoring, "explain", poisoned)
    outcome = transactions_score(transaction_ids=world)
    assert (outcome.scored, outcome.failed) == (len(world) - 1, 1)
    poison = Transaction.objects.get(id=poison_id)
    assert poison.status == Transaction.Status.FAILED
    assert "injected: this row cannot be featurised" in poison.error
    body = api_client.get(f"/api/v1/transactions/{poison.external_id}").json()
    assert body["status"] == "failed" and "injected" in body["error"]
    assert Transaction.objects.filter(id__in=world, status="scored").count() == len(world) - 1


@pytest.mark.django_db
def test_a_legacy_rule_that_overflows_is_skipped_and_counted(world, make_user, client):
    rule = Rule.objects.create(name="overflow", expression="amount > 1" + "0" * 400, risk_floor=80)
    Rule.objects.create(name="works", expression="amount > 0", risk_floor=75, reason="any")
    outcome = transactions_score(transaction_ids=world)
    assert outcome.scored == len(world)
    rule.refresh_from_db()
    assert rule.error_count == 1 and rule.last_error_at is not None
    assert "limited to" in rule.last_error
    # The working rule still applied to every row.
    assert not Transaction.objects.filter(id__in=world, risk_score__lt=75).exists()
    client.force_login(make_user("admin"))
    page = client.get("/rules/").content.decode()
    assert "1 batch skipped" in page and "limited to" in page


def test_a_rule_failing_at_run_time_is_skipped_for_the_frame_and_the_others_apply():
    broken = compile_rule("amount > 5")
    broken.tree = ast.Expression(body=ast.Call(func=ast.Name("boom"), args=[], keywords=[]))
    working = compile_rule("amount > 5")
    frame = pd.DataFrame({"amount": [1.0, 10.0]})
    hits = rules_apply([(broken, 90), (working, 70)], frame)
    assert list(hits.floors) == [0, 70]
    assert set(hits.errors) == {0} and "Cannot evaluate" in hits.errors[0]


@pytest.mark.django_db
def test_rule_constants_are_bounded_when_saved_and_previewed(make_user):
    from core.errors import ApplicationError
    from scoring.services.rules import rule_create

    admin = make_user("admin")
    with pytest.raises(ApplicationError, match="limited to"):
        rule_create(actor=admin, name="big", expression="amount > 1" + "0" * 400, risk_floor=80)
    with pytest.raises(ApplicationError, match="limited to"):
        rule_preview(actor=admin, expression="amount > 1e999", risk_floor=80)
    assert not Rule.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_a_broken_champion_file_keeps_rows_pending_and_the_sweeper_waits(
    world, champion, tmp_path, settings, damage
):
    copy = tmp_path / "champion.joblib"
    shutil.copy(champion.file_path, copy)
    champion.file_path = str(copy)
    champion.save(update_fields=["file_path"])
    champion_cache.clear()
    if damage == "delete":
        copy.unlink()
    else:
        copy.write_bytes(b"not a model")
    with pytest.raises(ModelIntegrityError):
        transactions_score(transaction_ids=world)
    old = timezone.now() - timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS + 5)
    Transaction.objects.filter(id__in=world).update(enqueued_at=old)
    for _ in range(settings.MAX_SCORING_ATTEMPTS + 1):
        assert transactions_requeue_stale() == 0
    rows = Transaction.objects.filter(id__in=world)
    assert set(rows.values_list("status", flat=True)) == {Transaction.Status.PENDING}
    assert set(rows.values_list("scoring_attempts", flat=True)) == {0}


@pytest.mark.django_db
def test_training_frame_skips_rows_it_cannot_read_and_counts_them(world):
    legacy_row()
    frame = training_frame()
    assert frame.attrs["skipped"] == {"occurred_at missing or outside 1678-2262": 1}
    assert "legacy-1" not in set(frame.get("external_id", pd.Series(dtype=object)))
    assert len(frame) == Transaction.objects.count() - 1


def test_usable_rows_reports_how_many_and_why():
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "account_id": ["a", "a", "", "b", "b"],
            "amount": [10.0, np.nan, 5.0, -1.0, 3.0],
            "occurred_at": [
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00Z",
                "2026-01-03T00:00:00Z",
                "2026-01-04T00:00:00Z",
                "2300-01-01T00:00:00Z",
            ],
        }
    )
    frame.attrs["skipped"] = {"occurred_at missing or outside 1678-2262": 2}
    usable, skipped = usable_rows(frame)
    assert list(usable["id"]) == [1]
    assert skipped == {
        "occurred_at missing or outside 1678-2262": 3,
        "amount missing, not finite or not positive": 2,
        "account_id missing": 1,
    }
