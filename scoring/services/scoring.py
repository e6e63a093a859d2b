"""Scoring a batch of transactions: features, champion model, reasons, cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fraudcases.services import CaseHit, cases_open_or_attach

from ..explain import explain
from ..features import compute_features
from ..ml import predict_proba
from ..models import RiskLevel, Transaction
from ..selectors import history_frame
from .registry import champion_cache

logger = logging.getLogger(__name__)


class NoChampionModelError(Exception):
    """No model is promoted yet; transactions stay pending until one is."""


@dataclass
class ScoringOutcome:
    """What one scoring run did."""

    scored: int
    skipped: int
    cases: list[int]
    model_version: str


def risk_level_for(scores: np.ndarray) -> np.ndarray:
    """Map 0-100 scores to level names using ``RISK_LEVEL_THRESHOLDS``."""
    t = settings.RISK_LEVEL_THRESHOLDS
    levels = np.full(len(scores), RiskLevel.LOW.value, dtype=object)
    levels[scores >= t["medium"]] = RiskLevel.MEDIUM.value
    levels[scores >= t["high"]] = RiskLevel.HIGH.value
    levels[scores >= t["critical"]] = RiskLevel.CRITICAL.value
    return levels


def transactions_score(*, transaction_ids: list[int]) -> ScoringOutcome:
    """Score the still-pending transactions among ``transaction_ids`` with the champion model.

    A constant number of queries per batch: lock the batch, load the accounts' history, one bulk
    update, then case bookkeeping per risky account. Rows another worker holds or has already
    scored are skipped, so running the same batch twice changes nothing.
    """
    champion = champion_cache.get()
    if champion is None:
        raise NoChampionModelError("No champion model: run `manage.py train_model`.")
    model_version, artifact = champion
    with transaction.atomic():
        batch = list(
            Transaction.objects.select_for_update(skip_locked=True)
            .filter(id__in=transaction_ids, status=Transaction.Status.PENDING)
            .order_by("id")
            .only("id", "account_id", "counterparty_id", "occurred_at")
        )
        if not batch:
            return ScoringOutcome(0, len(transaction_ids), [], model_version.version)
        ids = [t.id for t in batch]
        history = history_frame(
            account_ids={t.account_id for t in batch},
            counterparty_ids={t.counterparty_id for t in batch},
            start=min(t.occurred_at for t in batch),
            end=max(t.occurred_at for t in batch),
        )
        features = compute_features(history)
        position = history.index[history["id"].isin(ids)]
        features = features.loc[position]
        raw = history.loc[position]
        proba = predict_proba(artifact, features)
        scores = np.clip(np.rint(proba * 100), 0, 100).astype(int)
        levels = risk_level_for(scores)
        reasons = explain(artifact, features, raw, proba)
        now = timezone.now()
        feature_rows = features.round(4).replace({np.nan: None}).to_dict("records")
        updates = []
        hits: dict[str, CaseHit] = {}
        for i, (txn_id, account_id) in enumerate(zip(raw["id"], raw["account_id"], strict=True)):
            updates.append(
                Transaction(
                    id=int(txn_id),
                    status=Transaction.Status.SCORED,
                    risk_score=int(scores[i]),
                    risk_level=levels[i],
                    reasons=reasons[i],
                    features=feature_rows[i],
                    model_version=model_version,
                    scored_at=now,
                    error="",
                )
            )
            if levels[i] in settings.CASE_OPEN_LEVELS:
                hit = hits.setdefault(
                    account_id, CaseHit(account_id=account_id, model_version=model_version.version)
                )
                hit.transaction_ids.append(int(txn_id))
                if scores[i] >= hit.risk_score:
                    hit.risk_score = int(scores[i])
                    hit.risk_level = levels[i]
                    hit.reasons = [r["detail"] for r in reasons[i]]
        Transaction.objects.bulk_update(
            updates,
            [
                "status",
                "risk_score",
                "risk_level",
                "reasons",
                "features",
                "model_version",
                "scored_at",
                "error",
            ],
            batch_size=1000,
        )
        cases = cases_open_or_attach(hits=list(hits.values()))
    logger.info(
        "Scored %d transactions with %s; %d case(s) opened or updated",
        len(updates),
        model_version.version,
        len(cases),
    )
    return ScoringOutcome(
        scored=len(updates),
        skipped=len(transaction_ids) - len(updates),
        cases=[c.pk for c in cases],
        model_version=model_version.version,
    )
