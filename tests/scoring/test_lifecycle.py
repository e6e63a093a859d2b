"""Lifecycle commands and tasks: train_model roles, promote_model, scheduled retraining."""

from __future__ import annotations

import io

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEvent
from fraudcases.models import Case
from fraudcases.services import case_close
from scoring.models import ModelVersion, Transaction
from scoring.selectors import transactions_frame
from scoring.services.registry import champion_cache
from scoring.tasks import retrain_challenger
from tests.helpers import load_history
from tests.lifecycle_helpers import make_version


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


@pytest.fixture(autouse=True)
def fresh_cache():
    champion_cache.clear()
    yield
    champion_cache.clear()


def roles() -> dict[str, str]:
    return dict(ModelVersion.objects.order_by("created_at").values_list("version", "role"))


@pytest.mark.django_db
def test_train_model_first_champion_then_challenger_then_options(synthetic_history):
    load_history(synthetic_history)
    first = run("train_model")
    champion = ModelVersion.objects.get(role="champion")
    assert champion.version in first and "now champion" in first
    assert run("train_model", if_missing=True).startswith(f"Champion {champion.version} exists")

    second = run("train_model", seed=1)
    challenger = ModelVersion.objects.get(role="challenger")
    assert "now challenger" in second and f"promote_model {challenger.version}" in second
    assert ModelVersion.objects.get(role="champion") == champion

    run("train_model", no_promote=True)
    assert sorted(roles().values()) == ["candidate", "challenger", "champion"]

    run("train_model", promote=True)
    newest = ModelVersion.objects.latest("created_at")
    assert newest.role == "champion"
    assert ModelVersion.objects.get(pk=champion.pk).role == "retired"
    assert AuditEvent.objects.filter(action="model.register").count() == 4
    assert AuditEvent.objects.filter(action="model.make_challenger").count() == 1
    assert AuditEvent.objects.filter(action="model.promote").count() == 2
    with pytest.raises(CommandError, match="not allowed with"):
        run("train_model", "--promote", "--no-promote")


@pytest.mark.django_db
def test_investigators_dispositions_become_training_labels(synthetic_history, make_user):
    """A live transaction without a label is learnt from once its case is closed."""
    load_history(synthetic_history.head(50))
    txn = Transaction.objects.first()
    Transaction.objects.filter(pk=txn.pk).update(is_fraud=None, label_source="")
    case = Case.objects.create(account_id=txn.account_id, title="t", risk_score=50)
    case.transactions.add(txn)
    case_close(
        case=case, actor=make_user("supervisor"), disposition="fraud_confirmed", note="confirmed"
    )
    frame = transactions_frame()
    assert frame.loc[frame["id"] == txn.pk, "is_fraud"].iloc[0] == 1


@pytest.mark.django_db
def test_promote_model_command(trained_model_file):
    make_version(trained_model_file, "v1", "champion", promoted_days_ago=2)
    make_version(trained_model_file, "v2")
    listing = run("promote_model")
    assert "v1" in listing and "champion" in listing and "v2" in listing
    assert "v2 is now the champion" in run("promote_model", "v2", note="weekly")
    assert roles() == {"v1": "retired", "v2": "champion"}
    event = AuditEvent.objects.get(action="model.promote")
    assert event.actor_label == "system:promote_model" and event.note == "weekly"
    assert "v1 is the champion again" in run("promote_model", rollback=True)
    assert roles() == {"v1": "champion", "v2": "retired"}
    assert AuditEvent.objects.filter(action="model.rollback").count() == 1
    assert "challenger" in run("promote_model", "v2", challenger=True)
    assert "retired" in run("promote_model", "v2", retire=True)
    with pytest.raises(CommandError, match="No model version 'nope'"):
        run("promote_model", "nope")
    with pytest.raises(CommandError, match="no earlier champion"):
        run("promote_model", rollback=True)
    with pytest.raises(CommandError, match="already the champion"):
        run("promote_model", "v1")


@pytest.mark.django_db
def test_scheduled_retraining_is_off_by_default_and_trains_a_challenger_when_on(
    settings, synthetic_history, trained_model_file
):
    assert django_settings.MODEL_RETRAIN_ENABLED is False
    assert "retrain-challenger" not in django_settings.CELERY_BEAT_SCHEDULE
    assert "drift-report" in django_settings.CELERY_BEAT_SCHEDULE
    make_version(trained_model_file, "champ", "champion", promoted_days_ago=1)
    load_history(synthetic_history)
    assert retrain_challenger.apply().get() == {"trained": None}
    assert ModelVersion.objects.count() == 1
    settings.MODEL_RETRAIN_ENABLED = True
    result = retrain_challenger.apply().get()
    assert result["role"] == "challenger"
    assert ModelVersion.objects.get(role="challenger").version == result["trained"]
    assert ModelVersion.objects.get(role="champion").version == "champ"
    assert AuditEvent.objects.get(action="model.make_challenger").actor_label == "system:retrain"


@pytest.mark.django_db
def test_scheduled_retraining_without_labels_does_nothing(settings):
    settings.MODEL_RETRAIN_ENABLED = True
    result = retrain_challenger.apply().get()
    assert result["trained"] is None and result["error"]
    assert not ModelVersion.objects.exists()
