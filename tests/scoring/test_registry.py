"""The model registry: promotion, rollback, challenger/retire (all audited), file integrity."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import AuditEvent
from fraudcases.models import Case, CaseTransaction
from scoring.engine.ml import ModelIntegrityError, load_artifact
from scoring.models import ModelVersion, Transaction
from scoring.selectors import model_live_precision
from scoring.services.labels import transaction_labels_from_disposition
from scoring.services.registry import (
    champion_cache,
    model_make_challenger,
    model_promote,
    model_retire,
    model_rollback,
    models_active,
    rollback_target,
)
from scoring.services.scoring import transactions_score
from scoring.tasks import score_batch
from tests.helpers import ingest_recent
from tests.lifecycle_helpers import make_version, tamper


@pytest.fixture(autouse=True)
def fresh_cache():
    champion_cache.clear()
    yield
    champion_cache.clear()


def roles() -> dict[str, str]:
    return dict(ModelVersion.objects.values_list("version", "role"))


def test_promote_and_rollback_are_audited_and_walk_back(db, trained_model_file, make_user):
    supervisor = make_user("supervisor")
    make_version(trained_model_file, "a", "champion", promoted_days_ago=10)
    b = make_version(trained_model_file, "b")
    c = make_version(trained_model_file, "c", "challenger")

    model_promote(model_version=b, actor=supervisor, note="better AP")
    assert roles() == {"a": "retired", "b": "champion", "c": "challenger"}
    event = AuditEvent.objects.get(action="model.promote", object_id=str(b.pk))
    assert event.actor == supervisor and event.note == "better AP"
    assert event.before == {"roles": {"b": "candidate", "a": "champion"}, "previous_champion": "a"}
    assert event.after == {"roles": {"b": "champion", "a": "retired"}}

    model_promote(model_version=c, actor=supervisor)
    assert roles() == {"a": "retired", "b": "retired", "c": "champion"}
    assert rollback_target().version == "b"

    restored = model_rollback(actor=supervisor, note="c misbehaves")
    assert restored.version == "b"
    assert roles() == {"a": "retired", "b": "champion", "c": "retired"}
    event = AuditEvent.objects.get(action="model.rollback")
    assert event.actor == supervisor and event.note == "c misbehaves"
    assert event.before["champion"] == "c" and event.after["champion"] == "b"
    # A second rollback goes one step further back, not back to c.
    assert model_rollback(actor=supervisor).version == "a"
    assert roles() == {"a": "champion", "b": "retired", "c": "retired"}
    with pytest.raises(ConflictError, match="no earlier champion"):
        model_rollback(actor=supervisor)
    assert AuditEvent.objects.filter(action="model.rollback").count() == 2


def test_challenger_and_retire(db, trained_model_file, make_user):
    admin = make_user("admin")
    make_version(trained_model_file, "champ", "champion", promoted_days_ago=1)
    x = make_version(trained_model_file, "x")
    y = make_version(trained_model_file, "y")
    model_make_challenger(model_version=x, actor=admin)
    model_make_challenger(model_version=y, actor=admin)
    assert roles() == {"champ": "champion", "x": "candidate", "y": "challenger"}
    event = AuditEvent.objects.filter(action="model.make_challenger").latest("id")
    assert event.before["roles"] == {"y": "candidate", "x": "challenger"}
    model_retire(model_version=y, actor=admin)
    assert roles()["y"] == "retired"
    assert AuditEvent.objects.get(action="model.retire").after == {"role": "retired"}
    champ = ModelVersion.objects.get(version="champ")
    with pytest.raises(ConflictError, match="is the champion"):
        model_retire(model_version=champ, actor=admin)
    with pytest.raises(ConflictError, match="is the champion"):
        model_make_challenger(model_version=champ, actor=admin)
    with pytest.raises(ConflictError, match="already the champion"):
        model_promote(model_version=champ, actor=admin)


def test_lifecycle_actions_need_the_promote_permission(db, trained_model_file, make_user):
    make_version(trained_model_file, "champ", "champion", promoted_days_ago=1)
    x = make_version(trained_model_file, "x")
    for role in ("investigator", "auditor"):
        user = make_user(role)
        with pytest.raises(PermissionDeniedError):
            model_promote(model_version=x, actor=user)
        with pytest.raises(PermissionDeniedError):
            model_make_challenger(model_version=x, actor=user)
        with pytest.raises(PermissionDeniedError):
            model_rollback(actor=user)
    assert roles() == {"champ": "champion", "x": "candidate"}
    assert not AuditEvent.objects.filter(action__startswith="model.").exists()


def test_a_tampered_file_is_refused(db, trained_model_file):
    mv = make_version(trained_model_file, "t", "candidate")
    load_artifact(Path(mv.file_path), sha256=mv.sha256)  # intact: loads
    tamper(mv)
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        load_artifact(Path(mv.file_path), sha256=mv.sha256)
    # Nor can it be put into service.
    with pytest.raises(ApplicationError, match="does not match its registered SHA-256"):
        model_promote(model_version=mv)
    with pytest.raises(ApplicationError, match="does not match its registered SHA-256"):
        model_make_challenger(model_version=mv)
    Path(mv.file_path).unlink()
    with pytest.raises(ModelIntegrityError, match="does not exist"):
        load_artifact(Path(mv.file_path), sha256=mv.sha256)
    assert ModelVersion.objects.get(pk=mv.pk).role == "candidate"


def test_worker_keeps_transactions_pending_when_the_champion_file_is_tampered(
    db, trained_model_file, synthetic_history
):
    mv = make_version(trained_model_file, "champ", "champion", promoted_days_ago=1)
    tamper(mv)
    ids = ingest_recent(synthetic_history.tail(5))
    with pytest.raises(ModelIntegrityError):
        transactions_score(transaction_ids=ids)
    result = score_batch.apply(args=[ids])
    assert result.failed() and isinstance(result.result, ModelIntegrityError)
    assert Transaction.objects.filter(id__in=ids, status="pending").count() == 5
    assert not Transaction.objects.filter(model_version=mv).exists()


def test_a_tampered_challenger_only_disables_shadow_scoring(
    db, trained_model_file, synthetic_history, caplog
):
    make_version(trained_model_file, "champ", "champion", promoted_days_ago=1)
    bad = make_version(trained_model_file, "bad", "challenger")
    tamper(bad)
    with caplog.at_level("ERROR", logger="scoring.services.registry"):
        active = models_active()
    assert active.champion[0].version == "champ" and active.challenger is None
    assert "Challenger disabled" in caplog.text and "refusing to load" in caplog.text
    ids = ingest_recent(synthetic_history.tail(5))
    assert transactions_score(transaction_ids=ids).scored == 5
    assert not Transaction.objects.filter(id__in=ids, challenger_score__isnull=False).exists()


def test_live_precision_counts_closed_cases_per_version(db, trained_model_file, synthetic_history):
    a = make_version(trained_model_file, "a", "champion", promoted_days_ago=1)
    b = make_version(trained_model_file, "b")
    ids = ingest_recent(synthetic_history.tail(6))
    Transaction.objects.filter(id__in=ids[:4]).update(model_version=a, status="scored")
    Transaction.objects.filter(id__in=ids[4:]).update(model_version=b, status="scored")
    outcomes = ["fraud_confirmed", "fraud_confirmed", "legitimate", None]
    for i, (txn_id, disposition) in enumerate(zip(ids[:4], outcomes, strict=True)):
        case = Case.objects.create(
            account_id=f"acct-{i}",
            title="t",
            status="closed" if disposition else "new",
            disposition=disposition or "",
        )
        CaseTransaction.objects.create(case=case, transaction_id=txn_id)
        if disposition:  # what closing the case does (fraudcases.services.transitions)
            transaction_labels_from_disposition(transaction_ids=[txn_id], disposition=disposition)
    # One case holding a transaction of each version counts for both.
    shared = Case.objects.create(
        account_id="shared", title="t", status="closed", disposition="legitimate"
    )
    CaseTransaction.objects.create(case=shared, transaction_id=ids[4])
    transaction_labels_from_disposition(transaction_ids=[ids[4]], disposition="legitimate")
    live = model_live_precision()
    assert live[a.pk] == {"closed": 3, "fraud": 2, "legitimate": 1, "precision": 2 / 3}
    assert live[b.pk] == {"closed": 1, "fraud": 0, "legitimate": 1, "precision": 0.0}
