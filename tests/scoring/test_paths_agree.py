"""The batch path (the worker's ``score_batch``) and the single-transaction path (``POST
/transactions/score``) give the same score, level and reasons for the same transaction.

A row's history frame differs between the two: the batch loads its accounts' rows from 30 days
before the batch's *earliest* transaction, a single transaction from 30 days before its own. Any
feature whose floating-point result depended on where the frame starts (prefix sums over rows
outside the row's window) made the two disagree (issue 11: 92.6 in the batch, 92.3 alone)."""

from __future__ import annotations

import pytest

from scoring.models import Rule, Transaction
from scoring.services.scoring import transactions_score
from tests.helpers import api_items, ingest_recent, load_history, split_history

pytestmark = pytest.mark.django_db

RESULT = ("status", "risk_score", "risk_level", "reasons", "features")


def _results(ids: list[int]) -> dict[int, tuple]:
    return {
        row[0]: row[1:] for row in Transaction.objects.filter(id__in=ids).values_list("id", *RESULT)
    }


def _reset(ids: list[int]) -> None:
    Transaction.objects.filter(id__in=ids).update(
        status=Transaction.Status.PENDING, risk_score=None, risk_level="", reasons=[], features={}
    )


@pytest.fixture
def pending_mix(champion, synthetic_history):
    """Older history stored; frauds and ordinary rows of the last days pending, spread over the
    whole recent window so the batch's frame starts long before most of its rows."""
    older, recent = split_history(synthetic_history)
    load_history(older)
    frauds = recent[recent["is_fraud"] == 1].iloc[::3].head(25)
    ordinary = recent[recent["is_fraud"] == 0].iloc[::40].head(35)
    pending = frauds._append(ordinary).sort_values("occurred_at")
    # A rule that fires on the largest few pending rows, whatever the generator made.
    large = int(pending["amount"].astype(float).quantile(0.9))
    Rule.objects.create(name="large", expression=f"amount > {large}", risk_floor=75, is_active=True)
    return ingest_recent(pending)


def test_batch_and_single_transaction_scoring_agree(pending_mix):
    ids = pending_mix
    assert transactions_score(transaction_ids=ids).scored == len(ids)
    batch = _results(ids)
    _reset(ids)
    for txn_id in ids:  # one at a time: what POST /transactions/score does after storing it
        assert transactions_score(transaction_ids=[txn_id]).scored == 1
    single = _results(ids)
    differing = {i: (batch[i][1:4], single[i][1:4]) for i in ids if batch[i] != single[i]}
    assert not differing, differing
    # The comparison means something: alerts with reasons in words, and a rule's reason.
    assert any(r[3] for r in batch.values())
    assert any(r[2] in ("high", "critical") and r[3] for r in batch.values())
    assert any(r[3] and r[3][0]["code"] == "rule:large" for r in batch.values())


def test_the_score_endpoint_agrees_with_the_batch_path(pending_mix, api_client, synthetic_history):
    """Through HTTP: a transaction scored by ``POST /transactions/score``, then the same row
    scored again by the batch path together with the pending rows of its days."""
    _, recent = split_history(synthetic_history)
    fraud = recent[recent["is_fraud"] == 1].iloc[1::3].head(1)
    item = api_items(fraud)[0]
    item["external_id"] = "paths-agree-single"
    response = api_client.post("/api/v1/transactions/score", item, format="json")
    assert response.status_code == 200, response.content
    alone = response.json()
    row = Transaction.objects.get(external_id="paths-agree-single")
    _reset([row.pk])
    assert transactions_score(transaction_ids=[*pending_mix, row.pk]).scored == len(pending_mix) + 1
    row.refresh_from_db()
    assert (row.risk_score, row.risk_level, row.reasons) == (
        alone["risk_score"],
        alone["risk_level"],
        alone["reasons"],
    )
