"""Scoring a batch of transactions: features, champion model + rules, shadow challenger, reasons,
cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fraudcases.services import CaseHit, cases_open_or_attach

from ..explain import MAX_REASONS, explain
from ..features import compute_features
from ..ml import predict_proba
from ..models import RiskLevel, Rule, Transaction
from ..rules import RAW_FIELDS, CompiledRule, RuleError, RuleHits, compile_rule, rules_apply
from ..selectors import history_frame
from .registry import models_active

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


@dataclass
class _ActiveRule:
    rule: Rule
    compiled: CompiledRule


def _active_rules(extra_features: list[str]) -> list[_ActiveRule]:
    """Active rules, compiled. A rule that no longer compiles (e.g. it names a feature that was
    removed) is skipped and logged, never allowed to stop scoring."""
    active = []
    for rule in Rule.objects.filter(is_active=True).order_by("name"):
        try:
            compiled = compile_rule(rule.expression, extra_features=extra_features)
        except RuleError as exc:
            logger.error("Rule %r skipped: %s", rule.name, exc.message)
            continue
        active.append(_ActiveRule(rule=rule, compiled=compiled))
    return active


def _rule_frame(features: pd.DataFrame, raw: pd.DataFrame, currency: dict[int, str]):
    frame = features.copy()
    for column in RAW_FIELDS:
        if column == "currency":
            frame[column] = raw["id"].map(currency).fillna("").to_numpy()
        elif column in raw:
            frame[column] = raw[column].to_numpy()
    return frame


def _with_rules(model_scores: np.ndarray, hits: RuleHits | None) -> np.ndarray:
    if hits is None:
        return model_scores
    return np.maximum(model_scores, hits.floors)


def _rule_reasons(
    rules: list[_ActiveRule], fired: list[int], model_score: int
) -> list[dict[str, Any]]:
    ordered = sorted(fired, key=lambda j: -rules[j].rule.risk_floor)
    return [
        {
            "code": f"rule:{rules[j].rule.name}",
            "detail": rules[j].rule.reason or rules[j].compiled.expression,
            # Points this rule added on top of the model's own score.
            "weight": float(max(rules[j].rule.risk_floor - model_score, 0)),
        }
        for j in ordered
    ]


def _shadow_scores(
    challenger, history: pd.DataFrame, position: pd.Index, hits: RuleHits | None
) -> np.ndarray | None:
    """The challenger's scores for the same batch (with the same rules), or None when it fails:
    shadow scoring must never stop the champion. Features are computed with the challenger's own
    artifact (its learned tables and metadata keys may differ from the champion's); no query."""
    if challenger is None:
        return None
    mv, artifact = challenger
    try:
        features = compute_features(history, artifact=artifact).loc[position]
        proba = predict_proba(artifact, features)
    except Exception:  # any failure of the shadow model only disables it
        logger.exception("Challenger %s could not score this batch", mv.version)
        return None
    return _with_rules(np.clip(np.rint(proba * 100), 0, 100).astype(int), hits)


def transactions_score(*, transaction_ids: list[int]) -> ScoringOutcome:
    """Score the still-pending transactions among ``transaction_ids`` with the champion model
    and the active rules; the challenger (if any) scores the same rows in shadow.

    score = max(model score, floors of the rules that fire); firing rules come first among the
    (at most three) reasons. The challenger's score is stored next to the champion's and never
    opens a case.

    A constant number of queries per batch: the registry, the rules, lock the batch, load the
    accounts' history, one bulk update, then case bookkeeping per risky account. Rows another
    worker holds or has already scored are skipped, so running the same batch twice changes
    nothing. A champion file that fails its SHA-256 check raises before anything is touched, so
    the batch stays pending.
    """
    active = models_active()
    if active.champion is None:
        raise NoChampionModelError("No champion model: run `manage.py train_model`.")
    model_version, artifact = active.champion
    rules = _active_rules(list(artifact["feature_names"]))
    with transaction.atomic():
        batch = list(
            Transaction.objects.select_for_update(skip_locked=True)
            .filter(id__in=transaction_ids, status=Transaction.Status.PENDING)
            .order_by("id")
            .only("id", "account_id", "counterparty_id", "occurred_at", "currency")
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
        features = compute_features(history, artifact=artifact)
        position = history.index[history["id"].isin(ids)]
        features = features.loc[position]
        raw = history.loc[position]
        proba = predict_proba(artifact, features)
        model_scores = np.clip(np.rint(proba * 100), 0, 100).astype(int)
        hits = None
        if rules:
            frame = _rule_frame(features, raw, {t.id: t.currency for t in batch})
            hits = rules_apply([(r.compiled, r.rule.risk_floor) for r in rules], frame)
        scores = _with_rules(model_scores, hits)
        levels = risk_level_for(scores)
        reasons = explain(artifact, features, raw, proba)
        shadow = _shadow_scores(active.challenger, history, position, hits)
        challenger_version = active.challenger[0] if shadow is not None else None
        now = timezone.now()
        feature_rows = features.round(4).replace({np.nan: None}).to_dict("records")
        updates = []
        case_hits: dict[str, CaseHit] = {}
        for i, (txn_id, account_id) in enumerate(zip(raw["id"], raw["account_id"], strict=True)):
            row_reasons = reasons[i]
            if hits is not None and hits.fired[i]:
                row_reasons = (
                    _rule_reasons(rules, hits.fired[i], int(model_scores[i])) + row_reasons
                )[:MAX_REASONS]
            updates.append(
                Transaction(
                    id=int(txn_id),
                    status=Transaction.Status.SCORED,
                    risk_score=int(scores[i]),
                    risk_level=levels[i],
                    reasons=row_reasons,
                    features=feature_rows[i],
                    model_version=model_version,
                    scored_at=now,
                    error="",
                    challenger_score=int(shadow[i]) if shadow is not None else None,
                    challenger_model_version=challenger_version,
                )
            )
            # Only the champion's score acts: the challenger never opens a case.
            if levels[i] in settings.CASE_OPEN_LEVELS:
                hit = case_hits.setdefault(
                    account_id, CaseHit(account_id=account_id, model_version=model_version.version)
                )
                hit.transaction_ids.append(int(txn_id))
                if scores[i] >= hit.risk_score:
                    hit.risk_score = int(scores[i])
                    hit.risk_level = levels[i]
                    hit.reasons = [r["detail"] for r in row_reasons]
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
                "challenger_score",
                "challenger_model_version",
            ],
            batch_size=1000,
        )
        cases = cases_open_or_attach(hits=list(case_hits.values()))
    logger.info(
        "Scored %d transactions with %s%s; %d rule hit(s); %d case(s) opened or updated",
        len(updates),
        model_version.version,
        f" (challenger {challenger_version.version} in shadow)" if challenger_version else "",
        sum(1 for f in hits.fired if f) if hits is not None else 0,
        len(cases),
    )
    return ScoringOutcome(
        scored=len(updates),
        skipped=len(transaction_ids) - len(updates),
        cases=[c.pk for c in cases],
        model_version=model_version.version,
    )
