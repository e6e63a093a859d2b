"""Champion/challenger: the challenger scores the same batch in shadow and never acts."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fraudcases.models import Case, CaseTransaction
from scoring.models import Transaction
from scoring.selectors import challenger_comparison
from scoring.services import scoring as scoring_service
from scoring.services.registry import champion_cache
from scoring.services.scoring import transactions_score
from tests.helpers import api_items, ingest_recent, load_history, split_history
from tests.lifecycle_helpers import make_version


@pytest.fixture
def world(db, trained_model_file, synthetic_history):
    champion_cache.clear()
    champion = make_version(trained_model_file, "champ", "champion", promoted_days_ago=1)
    challenger = make_version(trained_model_file, "chall", "challenger")
    older, recent = split_history(synthetic_history)
    load_history(older)
    yield champion, challenger, recent
    champion_cache.clear()


def test_challenger_scores_are_stored_next_to_the_champions(world):
    champion, challenger, recent = world
    ids = ingest_recent(recent)
    transactions_score(transaction_ids=ids)
    rows = Transaction.objects.filter(id__in=ids)
    assert rows.count() == len(recent)
    assert not rows.filter(challenger_score__isnull=True).exists()
    assert set(rows.values_list("model_version", "challenger_model_version").distinct()) == {
        (champion.pk, challenger.pk)
    }
    # Same model file: the shadow score equals the champion's.
    pairs = np.array(rows.values_list("risk_score", "challenger_score"))
    assert (pairs[:, 0] == pairs[:, 1]).all()
    comparison = challenger_comparison(challenger=challenger)
    assert comparison["rows"] == len(recent)
    assert comparison["agreement"] == 1.0 and comparison["only_challenger"] == 0
    assert comparison["correlation"] == pytest.approx(1.0)
    assert comparison["champion"]["alerts"] == comparison["challenger"]["alerts"] > 0


def test_challenger_never_opens_a_case(world, monkeypatch):
    """A challenger that alerts on everything changes scores only in its own column."""
    _, challenger, recent = world
    legit = recent[recent["is_fraud"] == 0].iloc[:200]
    real_predict = scoring_service.predict_proba
    real_active = scoring_service.models_active

    def predict(artifact, features):
        proba = real_predict(artifact, features)
        return np.ones_like(proba) if artifact.get("_alerts_on_everything") else proba

    def active():
        result = real_active()
        mv, artifact = result.challenger
        result.challenger = (mv, {**artifact, "_alerts_on_everything": True})
        return result

    monkeypatch.setattr(scoring_service, "predict_proba", predict)
    monkeypatch.setattr(scoring_service, "models_active", active)
    ids = ingest_recent(legit)
    transactions_score(transaction_ids=ids)
    rows = Transaction.objects.filter(id__in=ids)
    # Probability 1 everywhere: one displayed risk for all, at critical (the one-decimal map of
    # a calibrated model keeps it below 100).
    (shadow,) = set(rows.values_list("challenger_score", flat=True))
    assert shadow >= 90
    champion_alerting = set(
        rows.filter(risk_level__in=["high", "critical"]).values_list("id", flat=True)
    )
    linked = set(
        CaseTransaction.objects.filter(transaction_id__in=ids).values_list(
            "transaction_id", flat=True
        )
    )
    assert linked == champion_alerting  # only the champion's alerts reach cases
    assert len(champion_alerting) < len(ids) // 4
    comparison = challenger_comparison(challenger=challenger)
    assert comparison["challenger"]["alerts"] == len(ids)
    assert comparison["only_challenger"] == len(ids) - len(champion_alerting)
    assert Case.objects.count() <= len({t.account_id for t in rows if t.id in linked})


def test_shadow_scoring_keeps_the_query_count_constant(world, settings):
    # Only scoring's queries: a false positive's case goes to a recording handler.
    settings.SCORING_HITS_HANDLER = "tests.helpers.hits_discarded"
    _, _, recent = world
    legit = recent[recent["is_fraud"] == 0]
    counts = []
    for size, offset in ((20, 0), (400, 20)):
        ids = ingest_recent(legit.iloc[offset : offset + size])
        with CaptureQueriesContext(connection) as ctx:
            assert transactions_score(transaction_ids=ids).scored == size
        counts.append([q["sql"] for q in ctx.captured_queries])
    small, large = counts
    # SQLite's bound-parameter limit splits the batch's UPDATE … FROM (VALUES …) into chunks
    # (scoring.bulk.update_rows); PostgreSQL writes the batch in one statement.
    bulk = re.compile(r'UPDATE "scoring_transaction" SET .* FROM \(SELECT column1 AS "id"')
    assert len([q for q in small if not bulk.match(q)]) == len(
        [q for q in large if not bulk.match(q)]
    )
    if connection.vendor == "postgresql":
        assert len(small) == len(large)


def test_the_score_endpoint_stores_the_challengers_shadow_score(world, api_client):
    """``/score`` scores the row before storing it: the challenger's score is stored with it,
    and the answer (built from what was inserted) is what reading it back gives."""
    champion, challenger, recent = world
    item = api_items(recent.head(1))[0]
    response = api_client.post("/api/v1/transactions/score", item, format="json")
    assert response.status_code == 200, response.content
    row = Transaction.objects.get(external_id=item["external_id"])
    assert row.challenger_model_version_id == challenger.pk
    assert row.challenger_score == row.risk_score  # the same model file
    assert response.json()["model_version"] == champion.version
    assert api_client.get(f"/api/v1/transactions/{item['external_id']}").json() == response.json()
