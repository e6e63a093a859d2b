"""Management commands of the foundation: API keys, synthetic data, training, seeding, audit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEvent
from scoring.models import ApiKey, ModelVersion, Transaction
from scoring.services.apikeys import api_key_lookup
from scoring.services.registry import champion_cache


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_create_api_key_prints_the_key_alone_on_the_last_line():
    output = run("create_api_key", "core-banking")
    key = output.strip().splitlines()[-1]
    assert key.startswith("fck_") and " " not in key
    row = ApiKey.objects.get(name="core-banking")
    assert api_key_lookup(plaintext=key) == row
    assert key not in row.key_hash
    assert AuditEvent.objects.filter(action="apikey.create", object_id=str(row.pk)).exists()


@pytest.mark.django_db
def test_create_api_key_needs_a_name():
    with pytest.raises(CommandError, match="needs a name"):
        run("create_api_key", "  ")


@pytest.mark.django_db
def test_generate_transactions_is_seeded_and_idempotent():
    args = {"accounts": 40, "days": 10, "seed": 3, "end": "2026-06-01T00:00:00+00:00"}
    first = run("generate_transactions", **args)
    n = Transaction.objects.count()
    assert n > 0 and "stored" in first
    assert Transaction.objects.filter(status=Transaction.Status.IMPORTED).count() == n
    assert Transaction.objects.filter(is_fraud=True).exists() or "0 fraud" in first
    second = run("generate_transactions", **args)
    assert Transaction.objects.count() == n
    assert f"already present {n:,}" in second


@pytest.mark.django_db
def test_generate_transactions_to_csv(tmp_path):
    path = tmp_path / "syn.csv"
    run("generate_transactions", accounts=10, days=5, output=str(path), end="2026-06-01T00:00Z")
    assert path.read_text().splitlines()[0].startswith("external_id,account_id,amount")
    assert Transaction.objects.count() == 0


def test_generate_transactions_rejects_a_naive_end():
    with pytest.raises(CommandError, match="time zone"):
        run("generate_transactions", accounts=5, days=2, end="2026-06-01T00:00:00")


@pytest.mark.django_db
def test_train_model_registers_and_promotes_a_champion():
    run("generate_transactions", accounts=300, days=30, seed=11, end="2026-10-01T00:00:00+00:00")
    output = run("train_model")
    champion = ModelVersion.objects.get(role=ModelVersion.Role.CHAMPION)
    assert champion.version in output
    assert champion.metrics["average_precision"] > 0.3
    assert 0 <= champion.metrics["precision_at_1pct"] <= 1
    assert champion.training_summary["rows"] == Transaction.objects.count()
    assert Path(champion.file_path).exists() and len(champion.sha256) == 64
    assert AuditEvent.objects.filter(action="model.promote", object_id=str(champion.pk)).exists()
    champion_cache.clear()


@pytest.mark.django_db
def test_train_model_without_labels_explains_what_to_do():
    with pytest.raises(CommandError, match="generate_transactions"):
        run("train_model")


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing(monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    settings.FEED_API_KEY_FILE = tmp_path / "feed-key"
    run("seed_demo", accounts=300, days=30)
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.all()}
    # The four logins, and the demo colleagues who worked the seeded case history.
    assert set(users) == {"investigator", "supervisor", "admin", "auditor"} | {
        "ivan",
        "ines",
        "sofia",
    }
    assert users["admin"].is_staff and not users["investigator"].is_staff
    assert users["auditor"].check_password("demo-pass-123")
    assert ModelVersion.objects.filter(role="champion").count() == 1
    state = (
        Transaction.objects.count(),
        ApiKey.objects.count(),
        ModelVersion.objects.count(),
        AuditEvent.objects.count(),
        settings.FEED_API_KEY_FILE.read_text(),
    )
    output = run("seed_demo", accounts=300, days=30)
    assert "demo-pass-123" in output
    assert state == (
        Transaction.objects.count(),
        ApiKey.objects.count(),
        ModelVersion.objects.count(),
        AuditEvent.objects.count(),
        settings.FEED_API_KEY_FILE.read_text(),
    )
    key = settings.FEED_API_KEY_FILE.read_text().strip()
    assert api_key_lookup(plaintext=key).name == "demo-feed"
    champion_cache.clear()
