"""Read-side queries of the scoring app; frames for the feature pipeline come from here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Count, F, FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from core.permissions import user_can

from .bulk import AnyOf, fetch_rows_binary
from .engine.features import INPUT_COLUMNS, LOOKBACK
from .engine.fields import TRANSACTION_FIELDS
from .models import (
    DriftReport,
    EvaluationReport,
    LabelSource,
    ModelVersion,
    Rule,
    Transaction,
)
from .schema import STORABLE_MAX, STORABLE_MIN

FRAME_FIELDS = [*INPUT_COLUMNS, "is_fraud", "fraud_pattern", "metadata"]


def _frame(rows: Iterable[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(rows), columns=columns)
    if not frame.empty:
        frame["amount"] = frame["amount"].astype(float)
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def transactions_frame(*, queryset: QuerySet | None = None, labels: bool = True) -> pd.DataFrame:
    """All (or the given) transactions as a frame of feature inputs, ``metadata`` and labels.

    ``is_fraud`` is the transaction's training label as ``scoring.services.labels`` stored it
    (1.0, 0.0, or NaN when unknown), whatever its source. ``labels=False`` leaves the column as
    stored (the scoring worker never looks at labels).
    """
    qs = queryset if queryset is not None else Transaction.objects.all()
    frame = _frame(qs.order_by().values(*FRAME_FIELDS).iterator(chunk_size=5000), FRAME_FIELDS)
    if labels:
        frame["is_fraud"] = pd.to_numeric(
            frame["is_fraud"].map({True: 1.0, False: 0.0}), errors="coerce"
        ).astype(float)
    return frame


def history_frame(
    *,
    account_ids: Iterable[str],
    counterparty_ids: Iterable[str] = (),
    start: datetime,
    end: datetime,
    metadata: bool = True,
    unstored: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Everything the features of a batch look at, in one query: the accounts' transactions and
    the payments to the batch's counterparties in ``[start - LOOKBACK, end]``. ``unstored``: the
    column values of a row not stored yet (the synchronous ``/score`` scores a transaction
    before it inserts it), made the frame's last row in the types the stored rows come in.

    On PostgreSQL the accounts' rows are an index-only scan of ``txn_account_history`` (it
    carries every column read here), and the counterparties' payments by other accounts an index
    scan of ``txn_counterparty_time``, in one ``UNION ALL`` (the EXPLAIN is in
    docs/performance.md). Rows come as tuples in binary, not dicts; the labels are not read
    (scoring never looks at them), nor ``metadata`` with ``metadata=False`` (a model without
    metadata features: the JSON is the costliest column to decode, and it is not in the index).
    """
    accounts = sorted(set(account_ids))
    counterparties = sorted(c for c in set(counterparty_ids) if c)
    window = Q(occurred_at__gte=start - LOOKBACK, occurred_at__lte=end)
    columns = [*INPUT_COLUMNS, "metadata"] if metadata else list(INPUT_COLUMNS)
    if connection.vendor != "postgresql":
        related = Q(account_id__in=accounts)
        if counterparties:
            related |= Q(counterparty_id__in=counterparties)
        qs = Transaction.objects.filter(related, window)
        rows = list(qs.order_by().values_list(*columns))
        if unstored is not None:
            rows.append(tuple(unstored.get(c) for c in columns))
        return _frame(rows, columns)
    # Amounts as float8 and times as exact integer microseconds, read in binary (bulk.py).
    plain = [c for c in columns if c not in ("amount", "occurred_at")]

    def rows(qs: QuerySet) -> QuerySet:
        return (
            qs.order_by()
            .annotate(
                _amount=Cast("amount", FloatField()),
                _micros=RawSQL(
                    'CAST(EXTRACT(EPOCH FROM "scoring_transaction"."occurred_at") * 1000000 '
                    "AS bigint)",
                    (),
                    output_field=BigIntegerField(),
                ),
            )
            .values_list(*plain, "_amount", "_micros")
        )

    # The ids as arrays (bulk.AnyOf): one parameter each instead of one per value.
    qs = rows(Transaction.objects.filter(window, AnyOf(F("account_id"), accounts)))
    if counterparties:
        others = (
            Transaction.objects.filter(window, AnyOf(F("counterparty_id"), counterparties))
            .exclude(counterparty_id="")  # the partial index's condition, stated for the planner
            .exclude(AnyOf(F("account_id"), accounts))
        )
        qs = qs.union(rows(others), all=True)
    fetched = fetch_rows_binary(qs)
    if unstored is not None:  # as the query gives them: the amount a float, the time in µs
        micros = (unstored["occurred_at"] - _EPOCH) // timedelta(microseconds=1)
        values = (*(unstored.get(c) for c in plain), float(unstored["amount"]), micros)
        fetched.append(values)
    return _binary_history(fetched, plain, columns)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Up to this many rows the history frame is built column by column (a /score request reads
# ~20-100): a frame of records, reordered, cost 1.4 ms of its 3.5 ms. Larger reads (a batch:
# ~20,000) are ~20 % faster as records.
_BY_COLUMN_ROWS = 2000


def _binary_history(rows: list[tuple], plain: list[str], columns: list[str]) -> pd.DataFrame:
    """The frame of the history query's rows: ``plain`` columns, then the amount as a float and
    the time as integer microseconds; the same frame whichever way it is built."""
    names = [*plain, "amount", "_micros"]
    if len(rows) > _BY_COLUMN_ROWS:
        frame = pd.DataFrame.from_records(rows, columns=names)
        frame["amount"] = frame["amount"].astype(float)
        micros = frame.pop("_micros").astype("int64")
        frame["occurred_at"] = pd.to_datetime(micros, unit="us", utc=True)
        return frame[columns]
    read = dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else {}
    # Each column's type as pandas infers it from the values (none: object, as from records).
    data: dict[str, Any] = {c: list(read[c]) if rows else np.array([], object) for c in plain}
    data["amount"] = np.array(read.get("amount", ()), dtype=float)
    micros = np.array(read.get("_micros", ()), dtype=np.int64)
    data["occurred_at"] = pd.to_datetime(micros, unit="us", utc=True)
    return pd.DataFrame({c: data[c] for c in columns})


def transaction_count_estimate() -> int | None:
    """PostgreSQL's estimate of how many transactions are stored: the planner's own (rows per
    page from the last ANALYZE, autovacuum's, times the table's pages now), read from the
    catalogue without touching the table. None on another database or before any ANALYZE."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN relpages > 0 THEN reltuples / relpages * (pg_relation_size(oid) "
            "/ current_setting('block_size')::int) ELSE reltuples END FROM pg_class "
            "WHERE oid = %s::regclass",
            [Transaction._meta.db_table],
        )
        (estimate,) = cursor.fetchone()
    return None if estimate is None or estimate < 0 else round(estimate)


def transaction_column_values(*, column: str) -> list[str]:
    """The distinct non-empty values of a free-text column of the transactions, sorted (the
    admin's filter choices; a scan of the table, so its caller caches it)."""
    return list(
        Transaction.objects.exclude(**{column: ""})
        .order_by(column)
        .values_list(column, flat=True)
        .distinct()
    )


def transaction_get_for_client(*, external_id: str) -> Transaction | None:
    """A transaction by external id for an API client (clients may read any result they sent).

    Clients are one trust domain in this deployment; per-client isolation would filter on
    ``api_key`` here. One query, its case link joined; the columns the result does not show (the
    stored features and metadata, the model's training records) are not read.
    """
    return (
        Transaction.objects.select_related("model_version", "case_link")
        .defer(*_NOT_IN_RESULT)
        .filter(external_id=external_id)
        .first()
    )


_NOT_IN_RESULT = (
    "features",
    "metadata",
    "model_version__feature_names",
    "model_version__training_summary",
    "model_version__metrics",
)


def model_versions_for_user(*, user) -> QuerySet[ModelVersion]:
    if not user_can(user, "model.view"):
        return ModelVersion.objects.none()
    return ModelVersion.objects.all()


def champion_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(role=ModelVersion.Role.CHAMPION).first()


def pending_stale_ids(*, older_than: datetime, limit: int) -> list[int]:
    """Pending transactions never enqueued or enqueued before ``older_than`` (presumed lost)."""
    return list(
        Transaction.objects.filter(status=Transaction.Status.PENDING)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=older_than))
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


# --- Model lifecycle: registry page, challenger comparison, drift windows, rule preview -------
# (appended by the lifecycle work; the frame functions above belong to the feature pipeline)


def _label():
    """A transaction's training label: the one stored field (see ``scoring.services.labels``)."""
    return F("is_fraud")


def model_live_precision() -> dict[int, dict[str, float | int | None]]:
    """Per model version (pk): cases decided by a disposition label on transactions it scored,
    how many of them were labelled fraud, and the share.

    A case belongs to the model version that scored its transactions (a case holding
    transactions scored by two versions counts for both); it counts once its transactions carry
    a disposition label (closed as fraud_confirmed or legitimate; reopened or inconclusive cases
    carry none).
    """
    rows = (
        Transaction.objects.filter(
            model_version__isnull=False,
            case_link__isnull=False,
            label_source=LabelSource.DISPOSITION,
        )
        .order_by()
        .values("model_version")
        .annotate(
            closed=Count("case_link__case", distinct=True),
            fraud=Count("case_link__case", distinct=True, filter=Q(is_fraud=True)),
            legitimate=Count("case_link__case", distinct=True, filter=Q(is_fraud=False)),
        )
    )
    return {
        r["model_version"]: {
            "closed": r["closed"],
            "fraud": r["fraud"],
            "legitimate": r["legitimate"],
            "precision": r["fraud"] / r["closed"] if r["closed"] else None,
        }
        for r in rows
    }


def _alert_threshold() -> int:
    return min(settings.RISK_LEVEL_THRESHOLDS[level] for level in settings.CASE_OPEN_LEVELS)


def challenger_comparison(*, challenger: ModelVersion, limit: int = 200_000) -> dict | None:
    """Champion vs challenger on the live transactions both scored (most recent ``limit``).

    Agreement is on the decision that matters (would this open a case?); correlation is Pearson
    on the 0-100 scores; precision is measured where the truth is known (the transaction's case
    was closed, or it carries a label), which for the challenger's extra alerts is often nowhere:
    ``labelled`` says how many alerts each side's precision rests on.
    """
    rows = list(
        Transaction.objects.filter(
            challenger_model_version=challenger,
            challenger_score__isnull=False,
            risk_score__isnull=False,
        )
        .order_by("-occurred_at")
        .annotate(label=_label())
        .values_list("account_id", "risk_score", "challenger_score", "label")[:limit]
    )
    if not rows:
        return None
    accounts = np.array([r[0] for r in rows], dtype=object)
    champion = np.array([r[1] for r in rows], dtype=float)
    shadow = np.array([r[2] for r in rows], dtype=float)
    label = np.array([np.nan if r[3] is None else float(r[3]) for r in rows])
    threshold = _alert_threshold()
    champion_alert = champion >= threshold
    shadow_alert = shadow >= threshold
    known = ~np.isnan(label)

    def side(alert: np.ndarray) -> dict:
        judged = alert & known
        return {
            "alerts": int(alert.sum()),
            "accounts": len(set(accounts[alert])),
            "labelled": int(judged.sum()),
            "precision": float(label[judged].mean()) if judged.any() else None,
        }

    correlation = None
    if len(rows) > 1 and champion.std() > 0 and shadow.std() > 0:
        correlation = float(np.corrcoef(champion, shadow)[0, 1])
    return {
        "rows": len(rows),
        "threshold": threshold,
        "agreement": float(np.mean(champion_alert == shadow_alert)),
        "correlation": correlation,
        "mean_abs_difference": float(np.mean(np.abs(champion - shadow))),
        "only_champion": int((champion_alert & ~shadow_alert).sum()),
        "only_challenger": int((shadow_alert & ~champion_alert).sum()),
        "champion": side(champion_alert),
        "challenger": side(shadow_alert),
    }


def scored_window_frame(*, start: datetime, end: datetime, limit: int) -> pd.DataFrame:
    """Stored features and risk score of scored transactions that occurred in ``[start, end)``
    (the most recent ``limit``), one row each."""
    rows = list(
        Transaction.objects.filter(
            status=Transaction.Status.SCORED, occurred_at__gte=start, occurred_at__lt=end
        )
        .order_by("-occurred_at")
        .values_list("features", "risk_score")[:limit]
    )
    frame = pd.DataFrame.from_records([r[0] or {} for r in rows])
    frame = frame.apply(pd.to_numeric, errors="coerce") if not frame.empty else frame
    frame["risk_score"] = pd.Series([r[1] for r in rows], dtype=float)
    return frame


# What a rule preview reads of each transaction: every sent field but the IP and the metadata.
RULE_PREVIEW_RAW = tuple(f for f in TRANSACTION_FIELDS if f not in ("ip_address", "metadata"))


def rule_preview_frame(*, limit: int) -> pd.DataFrame:
    """The last ``limit`` scored transactions: raw fields, stored features, score and label."""
    rows = list(
        Transaction.objects.filter(status=Transaction.Status.SCORED)
        .order_by("-occurred_at", "-id")
        .annotate(label=_label())
        .values(*RULE_PREVIEW_RAW, "features", "risk_score", "label")[:limit]
    )
    raw = pd.DataFrame.from_records(
        [{k: r[k] for k in (*RULE_PREVIEW_RAW, "risk_score", "label")} for r in rows],
        columns=[*RULE_PREVIEW_RAW, "risk_score", "label"],
    )
    feats = pd.DataFrame.from_records([r["features"] or {} for r in rows], index=raw.index)
    feats = feats.drop(columns=[c for c in feats.columns if c in raw.columns])
    frame = pd.concat([raw, feats.apply(pd.to_numeric, errors="coerce")], axis=1)
    if not frame.empty:
        frame["amount"] = frame["amount"].astype(float)
    return frame


def rules_for_user(*, user) -> QuerySet:
    """Detection rules an admin may manage (fail closed)."""
    if not user_can(user, "rule.manage"):
        return Rule.objects.none()
    return Rule.objects.select_related("created_by").all()


def drift_reports_for_user(*, user) -> QuerySet:
    """Drift reports, newest first, for those who may see the registry (fail closed)."""
    if not user_can(user, "model.view"):
        return DriftReport.objects.none()
    return DriftReport.objects.select_related("model_version").order_by("-created_at", "-id")


def evaluation_reports_for_user(*, user) -> QuerySet:
    """Evaluation back-tests, newest first, for those who may see the registry (fail closed)."""
    if not user_can(user, "model.view"):
        return EvaluationReport.objects.none()
    return EvaluationReport.objects.select_related("model_version").order_by("-created_at", "-id")


def training_frame() -> pd.DataFrame:
    """``transactions_frame`` over the rows training and evaluation can read: rows stored with a
    time outside what pandas holds (before the ingestion bounds existed) are not read at all,
    and counted in ``frame.attrs["skipped"]`` (``scoring.engine.features.usable_rows`` adds the
    rest)."""
    everything = Transaction.objects.all()
    readable = Q(occurred_at__gte=STORABLE_MIN, occurred_at__lt=STORABLE_MAX)
    outside = everything.exclude(readable).count()
    frame = transactions_frame(queryset=everything.filter(readable))
    if outside:
        frame.attrs["skipped"] = {"occurred_at missing or outside 1678-2262": outside}
    return frame
