"""Migration scoring 0004: existing labels get their source; stale disposition labels go."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("scoring", "0003_stream_source_rule_errors")]
AFTER = [("scoring", "0004_transaction_label_source")]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _migrate(targets):
    """Migrate scoring to ``targets`` (everything else stays); the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)  # also unapplies what depends on later scoring migrations
    executor.loader.build_graph()
    # The state of exactly what is applied now (other apps' migrations that depend on later
    # scoring ones were rolled back with them).
    applied = list(MigrationRecorder(connection).applied_migrations())
    return executor.loader.project_state(applied).apps


@pytest.fixture(autouse=True)
def _back_to_latest():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.slow  # migrates a database back and forth (several seconds): make test, not test-fast
def test_backfill_sets_sources_and_clears_stale_disposition_labels():
    old = _migrate(BEFORE)
    Transaction = old.get_model("scoring", "Transaction")
    Case = old.get_model("fraudcases", "Case")
    CaseTransaction = old.get_model("fraudcases", "CaseTransaction")

    def txn(ext, source, is_fraud):
        return Transaction.objects.create(
            external_id=ext,
            account_id=f"a-{ext}",
            amount="1.00",
            currency="USD",
            occurred_at=T0,
            source=source,
            is_fraud=is_fraud,
        )

    txn("g", "synthetic", True)
    txn("i", "import", False)
    confirmed = txn("c", "api", True)  # closed fraud_confirmed: keeps its label
    reopened = txn("r", "api", False)  # its case was reopened: the label is stale
    unlabelled = txn("u", "api", None)  # closed legitimate, label never written
    for t, status, disposition in (
        (confirmed, "closed", "fraud_confirmed"),
        (reopened, "in_review", ""),
        (unlabelled, "closed", "legitimate"),
    ):
        case = Case.objects.create(
            account_id=t.account_id,
            title="t",
            status=status,
            disposition=disposition,
            closed_at=T0 if status == "closed" else None,
        )
        CaseTransaction.objects.create(case=case, transaction=t)

    new = _migrate(AFTER)
    Transaction = new.get_model("scoring", "Transaction")
    got = {
        t.external_id: (t.is_fraud, t.label_source, t.labelled_at is not None)
        for t in Transaction.objects.all()
    }
    assert got == {
        "g": (True, "generator", True),
        "i": (False, "import", True),
        "c": (True, "disposition", True),
        "r": (None, "", False),
        "u": (False, "disposition", True),
    }
