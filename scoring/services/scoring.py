"""Scoring a batch of transactions: features, champion model + rules, shadow challenger, reasons,
cases."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone
from threadpoolctl import threadpool_limits

from core import metrics
from core.errors import ApplicationError
from core.recent import RecentlyRead

from ..bulk import AnyOf, fetch_rows_binary, update_rows
from ..engine.explain import MAX_REASONS, explain
from ..engine.features import FEATURE_NAMES, compute_features
from ..engine.fields import SUMMARY_FIELDS
from ..engine.ml import ModelIntegrityError, model_risk, predict_proba
from ..engine.rules import RAW_FIELDS, CompiledRule, RuleError, RuleHits, compile_rule, rules_apply
from ..hits import CaseHit, hits_hand_on
from ..models import ApiKey, RiskLevel, Rule, Transaction
from ..schema import STORABLE_MAX, STORABLE_MIN, BatchValidationError, validate_transactions
from ..selectors import history_frame, transaction_get_for_client
from .ingest import transactions_store
from .registry import models_active

logger = logging.getLogger(__name__)


class NoChampionModelError(Exception):
    """No model is promoted yet; transactions stay pending until one is."""


@dataclass
class ScoringOutcome:
    """What one scoring run did (``failed``: rows that could not be scored, now ``failed``)."""

    scored: int
    skipped: int
    cases: list[int]
    model_version: str
    failed: int = 0


def risk_level_for(scores: np.ndarray) -> np.ndarray:
    """Map 0-100 scores to level names using ``RISK_LEVEL_THRESHOLDS``."""
    t = settings.RISK_LEVEL_THRESHOLDS
    levels = np.full(len(scores), RiskLevel.LOW.value, dtype=object)
    levels[scores >= t["medium"]] = RiskLevel.MEDIUM.value
    levels[scores >= t["high"]] = RiskLevel.HIGH.value
    levels[scores >= t["critical"]] = RiskLevel.CRITICAL.value
    return levels


_numerics = threading.local()


def _single_threaded_numerics() -> None:
    """One OpenMP / BLAS thread for the model in this thread, set once per thread.

    The worker scales by processes (``--concurrency``) and the web by gunicorn workers: a
    scikit-learn predict that starts its own thread team per tree on a shared 2-core machine
    spends most of its time waiting at the team's barriers (measured: a 10-reason explanation
    of 28 rows took 9.5 s with the default team and 0.4 s with one thread).
    """
    if not getattr(_numerics, "limited", False):
        threadpool_limits(limits=1)
        _numerics.limited = True


@dataclass
class _ActiveRule:
    rule: Rule
    compiled: CompiledRule | None


# Compiled active rules per feature set, reused for RULES_CACHE_SECONDS by the synchronous
# /score (it must not read and compile every rule per request; a batch reads them afresh;
# core.recent). A rule saved or deleted in this process forgets them at once.
RULES_CACHE_SECONDS = 2.0
_compiled_rules = RecentlyRead[list[_ActiveRule]](senders=(Rule,), uid="scoring.rules_cache")


def _active_rules(extra_features: list[str], *, max_age: float = 0.0) -> list[_ActiveRule]:
    """Active rules, compiled (those compiled at most ``max_age`` seconds ago are reused). A
    rule that no longer compiles (it names a feature that was removed, or was saved before its
    constants were bounded) is skipped and counted on the rule, never allowed to stop scoring."""
    return _compiled_rules.get(
        tuple(extra_features), max_age=max_age, read=lambda: _compile_active(extra_features)
    )


def _compile_active(extra_features: list[str]) -> list[_ActiveRule]:
    active = []
    for rule in Rule.objects.filter(is_active=True).order_by("name"):
        try:
            compiled = compile_rule(rule.expression, extra_features=extra_features)
        except RuleError as exc:
            _record_rule_errors([_ActiveRule(rule=rule, compiled=None)], {0: exc.message})
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
    rules: list[_ActiveRule], fired: list[int], model_score: float
) -> list[dict[str, Any]]:
    ordered = sorted(fired, key=lambda j: -rules[j].rule.risk_floor)
    return [
        {
            "code": f"rule:{rules[j].rule.name}",
            "detail": rules[j].rule.reason or rules[j].compiled.expression,
            # Points this rule added on top of the model's own score.
            "weight": round(max(rules[j].rule.risk_floor - model_score, 0.0), 1),
        }
        for j in ordered
    ]


def _shadow_scores(
    challenger,
    history: pd.DataFrame,
    position: pd.Index,
    hits: RuleHits | None,
    behavioural: pd.DataFrame | None,
) -> np.ndarray | None:
    """The challenger's scores for the same batch (with the same rules), or None when it fails:
    shadow scoring must never stop the champion. Features are computed with the challenger's own
    artifact (its learned tables and metadata keys may differ from the champion's) on the
    champion's behavioural block of the batch's rows (``behavioural``, the same for every
    artifact); no query."""
    if challenger is None:
        return None
    mv, artifact = challenger
    try:
        features = compute_features(
            history, artifact=artifact, behavioural=behavioural, rows=position
        )
        proba = predict_proba(artifact, features)
    except Exception:  # any failure of the shadow model only disables it
        logger.exception("Challenger %s could not score this batch", mv.version)
        return None
    return _with_rules(model_risk(artifact, proba), hits)


@dataclass(slots=True)
class _ScoreRow:
    """One scored row as it will be written (the ``_WRITTEN`` columns, by attribute name)."""

    id: int
    status: str
    risk_score: float
    risk_level: str
    reasons: list[dict[str, Any]]
    features: dict[str, float | None]
    model_version_id: int
    scored_at: datetime
    error: str
    challenger_score: float | None
    challenger_model_version_id: int | None


@dataclass
class _Scored:
    """The scoring of some rows, not yet written."""

    updates: list[_ScoreRow]
    case_hits: dict[str, CaseHit]
    rule_hits: int
    rule_errors: dict[int, str]
    challenger_version: Any


def _feature_rows(features: pd.DataFrame) -> list[dict[str, float | None]]:
    """The stored ``features`` JSON of each row: rounded to 4 decimals, missing as null."""
    names = list(features.columns)
    values = np.round(features.to_numpy(dtype=float), 4).tolist()
    return [
        {name: (None if v != v else v) for name, v in zip(names, row, strict=True)}
        for row in values
    ]


def _needs_metadata(active) -> bool:
    return any(
        model is not None and (model[1].get("feature_spec") or {}).get("metadata_keys")
        for model in (active.champion, active.challenger)
    )


def _score_rows(batch: list[_Pending], active, rules: list[_ActiveRule]) -> _Scored:
    """Features, model, rules, reasons and shadow score of ``batch`` (one history query)."""
    ids = [t.id for t in batch]
    history = history_frame(
        account_ids={t.account_id for t in batch},
        counterparty_ids={t.counterparty_id for t in batch},
        start=min(t.occurred_at for t in batch),
        end=max(t.occurred_at for t in batch),
        metadata=_needs_metadata(active),
    )
    # Features of the batch's rows only; the rest of the frame is the history they read.
    position = history.index[history["id"].isin(ids)]
    scored = _score_frame(history, position, {t.id: t.currency for t in batch}, active, rules)
    if len(scored.updates) != len(batch):
        missing = sorted(set(ids) - {u.id for u in scored.updates})
        raise LookupError(f"Transactions {missing[:5]} were not found in their own history.")
    return scored


def _score_frame(
    history: pd.DataFrame,
    position: pd.Index,
    currency: dict[int, str],
    active,
    rules: list[_ActiveRule],
) -> _Scored:
    """The scoring of the rows of ``history`` at ``position`` (the rest is what they read);
    ``currency``: each scored row's currency by id (the rules read it)."""
    model_version, artifact = active.champion
    features = compute_features(history, artifact=artifact, rows=position)
    raw = history.loc[position]
    proba = predict_proba(artifact, features)
    model_scores = model_risk(artifact, proba)  # 0-100; one decimal with calibrated levels
    hits = None
    if rules:
        frame = _rule_frame(features, raw, currency)
        hits = rules_apply([(r.compiled, r.rule.risk_floor) for r in rules], frame)
    scores = _with_rules(model_scores, hits)
    levels = risk_level_for(scores)
    reasons = explain(artifact, features, raw, proba)
    behavioural = features if set(FEATURE_NAMES) <= set(features.columns) else None
    shadow = _shadow_scores(active.challenger, history, position, hits, behavioural)
    challenger_version = active.challenger[0] if shadow is not None else None
    now = timezone.now()
    feature_rows = _feature_rows(features)
    updates = []
    case_hits: dict[str, CaseHit] = {}
    for i, (txn_id, account_id) in enumerate(zip(raw["id"], raw["account_id"], strict=True)):
        row_reasons = reasons[i]
        if hits is not None and hits.fired[i]:
            row_reasons = (
                _rule_reasons(rules, hits.fired[i], float(model_scores[i])) + row_reasons
            )[:MAX_REASONS]
        updates.append(
            _ScoreRow(
                id=int(txn_id),
                status=Transaction.Status.SCORED,
                risk_score=float(scores[i]),
                risk_level=levels[i],
                reasons=row_reasons,
                features=feature_rows[i],
                model_version_id=model_version.pk,
                scored_at=now,
                error="",
                challenger_score=float(shadow[i]) if shadow is not None else None,
                challenger_model_version_id=challenger_version.pk if challenger_version else None,
            )
        )
        # Only the champion's score acts: the challenger never opens a case.
        if levels[i] in settings.CASE_OPEN_LEVELS:
            hit = case_hits.setdefault(
                account_id, CaseHit(account_id=account_id, model_version=model_version.version)
            )
            hit.transaction_ids.append(int(txn_id))
            if scores[i] >= hit.risk_score:
                hit.risk_score = float(scores[i])
                hit.risk_level = levels[i]
                hit.reasons = [r["detail"] for r in row_reasons]
    return _Scored(
        updates=updates,
        case_hits=case_hits,
        rule_hits=sum(1 for f in hits.fired if f) if hits is not None else 0,
        rule_errors=hits.errors if hits is not None else {},
        challenger_version=challenger_version,
    )


def _failure(exc: BaseException) -> str:
    return f"Could not be scored: {type(exc).__name__}: {exc}"[:1000]


def _score_isolated(batch: list[_Pending], active, rules: list[_ActiveRule]):
    """Score the batch at once; if that fails, row by row, so one poison row fails alone.

    Returns (the scoring of the rows that worked, {id: reason} of those that did not). Database
    errors are not the rows' fault: they propagate and the task retries the batch. When every
    row of a larger batch fails on its own too, the fault is not in the rows (e.g. a broken
    model): that error propagates as well and the rows stay pending.
    """
    try:
        return _score_rows(batch, active, rules), {}
    except DatabaseError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the batch: isolate the row(s)
        if len(batch) == 1:
            logger.warning("Transaction %s could not be scored: %s", batch[0].id, exc)
            return None, {batch[0].id: _failure(exc)}
        logger.warning("Batch of %d failed (%s); scoring its rows one by one", len(batch), exc)
        first_error = exc
    merged = _Scored([], {}, 0, {}, None)
    failed: dict[int, str] = {}
    for txn in batch:
        try:
            part = _score_rows([txn], active, rules)
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - this row is the poison: it fails alone
            logger.warning("Transaction %s could not be scored: %s", txn.id, exc)
            failed[txn.id] = _failure(exc)
            continue
        merged.updates += part.updates
        for account_id, hit in part.case_hits.items():
            into = merged.case_hits.setdefault(
                account_id, CaseHit(account_id=account_id, model_version=hit.model_version)
            )
            into.transaction_ids += hit.transaction_ids
            if hit.risk_score >= into.risk_score:
                into.risk_score, into.risk_level = hit.risk_score, hit.risk_level
                into.reasons = hit.reasons
        merged.rule_hits += part.rule_hits
        merged.rule_errors.update(part.rule_errors)
        merged.challenger_version = merged.challenger_version or part.challenger_version
    if not merged.updates:
        raise first_error
    return merged, failed


def _record_rule_errors(rules: list[_ActiveRule], errors: dict[int, str]) -> None:
    """Count each rule that failed on this batch (it was skipped) on its row and in metrics."""
    now = timezone.now()
    for j, message in errors.items():
        rule = rules[j].rule
        logger.error("Rule %r skipped for this batch: %s", rule.name, message)
        Rule.objects.filter(pk=rule.pk).update(
            error_count=F("error_count") + 1, last_error=message[:1000], last_error_at=now
        )
        metrics.rule_error(rule=rule.name)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A locked pending transaction: what scoring reads of it before its history."""

    id: int
    account_id: str
    counterparty_id: str
    occurred_at: datetime
    currency: str
    source: str


_UNSCORABLE = (
    f"Could not be scored: occurred_at outside {STORABLE_MIN:%Y-%m-%d} .. {STORABLE_MAX:%Y-%m-%d}."
)


def _lock_pending(transaction_ids: list[int]) -> tuple[list[_Pending], int]:
    """Lock the still-pending rows among ``transaction_ids`` (rows another worker holds are
    skipped) and return them, in id order, with the number of them marked failed because no
    model can use their time (legacy rows from before the validator's bounds).

    One query reads them; the time comes back only when it is usable (PostgreSQL may hold
    dates Python cannot read), and an ``UPDATE`` runs only when some row has none."""
    usable = Q(occurred_at__gte=STORABLE_MIN, occurred_at__lt=STORABLE_MAX)
    rows = fetch_rows_binary(  # the ids as one array, the rows in binary (scoring.bulk)
        Transaction.objects.select_for_update(skip_locked=True)
        .filter(AnyOf(F("id"), transaction_ids), status=Transaction.Status.PENDING)
        .order_by("id")
        .annotate(_at=Case(When(usable, then=F("occurred_at")), default=None))
        .values_list("id", "account_id", "counterparty_id", "_at", "currency", "source")
    )
    unscorable = [row[0] for row in rows if row[3] is None]
    if unscorable:
        Transaction.objects.filter(id__in=unscorable).update(
            status=Transaction.Status.FAILED, error=_UNSCORABLE
        )
        logger.warning(
            "%d transactions with an unusable occurred_at marked failed", len(unscorable)
        )
    return [_Pending(*row) for row in rows if row[3] is not None], len(unscorable)


_WRITTEN = (
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
)


def _write_scores(updates: list[_ScoreRow]) -> None:
    """The scored rows in one statement (``UPDATE … FROM`` a copied scratch table on
    PostgreSQL, ``scoring.bulk``) instead of ``bulk_update``'s ``CASE WHEN`` per column."""
    fields = [Transaction._meta.get_field(name) for name in _WRITTEN]
    update_rows(
        model=Transaction,
        pks=[u.id for u in updates],
        columns={f.name: [getattr(u, f.attname) for u in updates] for f in fields},
    )


def transactions_score(*, transaction_ids: list[int], rules_max_age: float = 0.0) -> ScoringOutcome:
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

    Poison is isolated: when the batch cannot be scored at once, its rows are scored one by one
    and a row that still fails is marked ``failed`` with the reason in ``error``. A rule that
    fails at run time is skipped for the batch and counted on the rule (``error_count``,
    ``last_error``); the model's scores and the other rules still apply. ``rules_max_age``:
    compiled rules at most this old may be reused instead of read (the synchronous path).
    """
    started = time.monotonic()  # for the scoring latency histogram
    _single_threaded_numerics()
    active = models_active()
    if active.champion is None:
        raise NoChampionModelError("No champion model: run `manage.py train_model`.")
    model_version, artifact = active.champion
    rules = _active_rules(list(artifact["feature_names"]), max_age=rules_max_age)
    with transaction.atomic():
        batch, unscorable = _lock_pending(transaction_ids)
        if not batch:
            return ScoringOutcome(
                0,
                len(transaction_ids),
                [],
                model_version.version,
                failed=unscorable,
            )
        scored, failed = _score_isolated(batch, active, rules)
        updates = scored.updates if scored is not None else []
        _write_scores(updates)
        for txn_id, reason in failed.items():
            Transaction.objects.filter(pk=txn_id).update(
                status=Transaction.Status.FAILED, error=reason
            )
        if failed:
            metrics.transactions_failed(sources=[t.source for t in batch if t.id in failed])
        if updates:  # counted once committed (core.metrics)
            scored_ids = {u.id for u in updates}
            sources = [t.source for t in batch if t.id in scored_ids]
            metrics.transactions_scored(sources=sources, seconds=time.monotonic() - started)
        if scored is not None and scored.rule_errors:
            _record_rule_errors(rules, scored.rule_errors)
        cases = hits_hand_on(hits=list(scored.case_hits.values())) if scored else []
    challenger_version = scored.challenger_version if scored is not None else None
    logger.info(
        "Scored %d transactions with %s%s; %d failed; %d rule hit(s); %d case(s) opened or updated",
        len(updates),
        model_version.version,
        f" (challenger {challenger_version.version} in shadow)" if challenger_version else "",
        len(failed) + unscorable,
        scored.rule_hits if scored is not None else 0,
        len(cases),
    )
    return ScoringOutcome(
        scored=len(updates),
        skipped=len(transaction_ids) - len(updates),
        cases=[c.pk for c in cases],
        model_version=model_version.version,
        failed=len(failed) + unscorable,
    )


class ScoringDeferredError(ApplicationError):
    """The transaction is stored but cannot be scored now (no usable champion model): HTTP 503;
    the sweeper scores it once a model is available."""

    status_code = 503


def transaction_score_now(*, item: object, api_key: ApiKey | None) -> Transaction:
    """``POST /transactions/score``: validate one transaction, score it in the request, store
    it, and return it as stored (a known external id returns the earlier result).

    The row is scored before it is stored and then written once, already scored, in the same
    database transaction as its case (:func:`_score_then_store`): no pending row to lock, no
    update of it. When it cannot be scored that way (no usable champion, or the scoring fails
    on it), it is stored pending and goes through the batch path, which marks a row that cannot
    be scored ``failed`` with the reason; without a usable champion it stays pending and
    :class:`ScoringDeferredError` says so (the sweeper scores it later).

    Invalid input raises the validator's error and stores nothing.
    """
    try:
        cleaned = validate_transactions([item])[0]
    except BatchValidationError as exc:  # one object: its errors by field, as the API always said
        raise ApplicationError(
            "Invalid input; nothing was stored.", extra=exc.errors["0"]
        ) from None
    outcome = _score_then_store(item=cleaned, api_key=api_key)
    if isinstance(outcome, Transaction):
        return outcome
    if outcome is _NOT_STORED:
        result = transactions_store(
            items=[cleaned], source=Transaction.Source.API, api_key=api_key, mode="sync"
        )
        if result.ids:
            try:
                transactions_score(transaction_ids=result.ids, rules_max_age=RULES_CACHE_SECONDS)
            except (NoChampionModelError, ModelIntegrityError) as exc:
                raise ScoringDeferredError(
                    f"{exc} The transaction is stored and will be scored later."
                ) from None
    return transaction_get_for_client(external_id=cleaned["external_id"])


# The id a row being scored before it is stored has in its history frame: larger than any the
# table issues, so it sorts after every stored row of its instant, as its own id will.
_UNSTORED_ID = 2**62


# What _score_then_store did when it returns no row: nothing (the pending path takes over), or
# nothing because an earlier row holds the external id (that row is the result).
_NOT_STORED = "not stored"
_KNOWN = "known"


def _score_then_store(*, item: dict[str, Any], api_key: ApiKey | None) -> Transaction | str:
    """Score the validated ``item`` against its stored history, then store it scored and hand
    its case on, in one database transaction, and return the row as stored (the result's
    fields, built from what was inserted: no read back). ``_NOT_STORED`` when it was not
    stored: no usable champion, or scoring failed on it (the caller takes the pending path,
    which says why); ``_KNOWN`` when an earlier row holds its external id (that row is the
    result).

    The features and reasons are the batch path's (the same ``_score_frame`` over the same
    history with the row in it; ``tests/scoring/test_paths_agree.py``).
    """
    started = time.monotonic()
    _single_threaded_numerics()
    try:
        active = models_active(max_age=RULES_CACHE_SECONDS)
    except ModelIntegrityError:
        return _NOT_STORED
    if active.champion is None:
        return _NOT_STORED
    model_version, artifact = active.champion
    rules = _active_rules(list(artifact["feature_names"]), max_age=RULES_CACHE_SECONDS)
    metadata = _needs_metadata(active)
    frame = history_frame(
        account_ids=[item["account_id"]],
        counterparty_ids=[item["counterparty_id"]],
        start=item["occurred_at"],
        end=item["occurred_at"],
        metadata=metadata,
        unstored={**item, "id": _UNSTORED_ID},
    )
    try:
        scored = _score_frame(
            frame, frame.index[-1:], {_UNSTORED_ID: item["currency"]}, active, rules
        )
    except DatabaseError:
        raise
    except Exception:  # the pending path scores it again, row by row, and records why
        logger.warning(
            "Transaction %s not scored before storing", item["external_id"], exc_info=True
        )
        return _NOT_STORED
    (update,) = scored.updates
    results = {
        f.name: getattr(update, f.attname)
        for f in (Transaction._meta.get_field(name) for name in _WRITTEN)
        if f.name != "status"
    }
    with transaction.atomic():
        stored = transactions_store(
            items=[{**item, **results}],
            source=Transaction.Source.API,
            api_key=api_key,
            mode="scored",
        )
        if not stored.ids:  # an earlier row holds this external id: it is the result
            return _KNOWN
        (txn_id,) = stored.ids
        for hit in scored.case_hits.values():
            hit.transaction_ids = [txn_id]
        metrics.transactions_scored(
            sources=[Transaction.Source.API], seconds=time.monotonic() - started
        )
        if scored.rule_errors:
            _record_rule_errors(rules, scored.rule_errors)
        hits_hand_on(hits=list(scored.case_hits.values()))
        # The case link the handler made, if any (only a risky row has one to look for).
        link = (
            _CASE_LINK.related_model.objects.filter(transaction_id=txn_id).first()
            if scored.case_hits
            else None
        )
    logger.info(
        "Scored transaction %s with %s before storing it; %d rule hit(s); %d case(s) opened "
        "or updated",
        txn_id,
        model_version.version,
        scored.rule_hits,
        len(scored.case_hits),
    )
    return _as_stored(item, txn_id, results, model_version, link)


def _as_stored(item, txn_id: int, results: dict[str, Any], model_version, link) -> Transaction:
    """The row ``_score_then_store`` inserted, with the fields the API result shows, as
    reading it back would give them (``tests/scoring/test_paths_agree.py`` compares the two)."""
    fields = {
        Transaction._meta.get_field(name).attname: value  # model_version_id=…: the keys
        for name, value in results.items()
        if name != "features"
    }
    txn = Transaction(
        id=txn_id,
        **{name: item[name] for name in SUMMARY_FIELDS},
        status=Transaction.Status.SCORED,
        **fields,
    )
    txn.model_version = model_version  # the result shows its version: no query for it
    _CASE_LINK.set_cached_value(txn, link)  # known: no query for it when it is shown
    return txn


# A transaction's link to its case (the cases' model, which scoring does not import).
_CASE_LINK = Transaction._meta.get_field("case_link")
