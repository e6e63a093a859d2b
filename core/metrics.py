"""Prometheus metrics: what each process counts, and what ``/metrics`` exposes.

Counters and histograms are prometheus-client objects incremented where things happen (ingest,
scoring, case opening, alert delivery, the stream consumer). They run in multiprocess mode (see
``core.metrics_process``): every process writes its samples to files and a scrape merges
the files of all processes on the host, so two gunicorn workers and three Celery pool processes
add up instead of each answering with its own share.

Figures that describe the database's state (pending backlog, oldest pending transaction, worker
heartbeats, the model in use, drift, audit verification) are read at scrape time with a handful
of small indexed queries, never a ``COUNT(*)`` over a whole table.

The API for other modules is the metric objects below (e.g.
``metrics.ALERT_DELIVERIES.labels(channel="email", outcome="sent").inc()``) and the helpers that
count only once the surrounding database transaction has committed (a rolled-back or killed
scoring run counts nothing).
"""

from __future__ import annotations

import glob
import logging
from collections import Counter as Tally
from collections.abc import Iterable

from .metrics_process import metrics_base_dir, metrics_process_default

# Before prometheus-client is imported: its import chooses single- or multi-process mode.
metrics_process_default()

from django.db import transaction  # noqa: E402
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

logger = logging.getLogger(__name__)
if not getattr(values.ValueClass, "_multiprocess", False):  # a wiring bug: say so
    logger.warning(
        "prometheus-client was imported before core.metrics chose multiprocess mode: "
        "this process's counters will not reach /metrics"
    )

# --- Counted where it happens ------------------------------------------------------------------

TRANSACTIONS_INGESTED = Counter(
    "fraudcases_transactions_ingested_total",
    "Transactions stored by ingestion (new rows), by source.",
    ["source"],
)
TRANSACTIONS_DUPLICATE = Counter(
    "fraudcases_transactions_duplicate_total",
    "Transactions received again with a known external id (not stored twice), by source.",
    ["source"],
)
TRANSACTIONS_SCORED = Counter(
    "fraudcases_transactions_scored_total",
    "Transactions scored by the champion model (committed), by source.",
    ["source"],
)
TRANSACTIONS_FAILED = Counter(
    "fraudcases_transactions_failed_total",
    "Transactions marked failed (poison row or retries exhausted), by source.",
    ["source"],
)
SCORING_DURATION = Histogram(
    "fraudcases_scoring_duration_seconds",
    "Time to score one batch (features, model, rules, reasons, cases).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
BATCH_SIZE = Histogram(
    "fraudcases_batch_size",
    "Transactions per batch: as received by ingestion, and as scored by a worker.",
    ["stage"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
CASES_OPENED = Counter(
    "fraudcases_cases_opened_total",
    "Cases opened by the scoring worker, by priority.",
    ["priority"],
)
ALERT_DELIVERIES = Counter(
    "fraudcases_alert_deliveries_total",
    "Alert delivery attempts by channel and outcome (sent, failed, dead, skipped).",
    ["channel", "outcome"],
)
RULE_ERRORS = Counter(
    "fraudcases_rule_errors_total",
    "Detection rules skipped for a batch because they failed to compile or evaluate.",
    ["rule"],
)
TASK_ERRORS = Counter(
    "fraudcases_task_errors_total",
    "Celery task runs that raised, by task and exception (retried or failed).",
    ["task", "error"],
)
STREAM_MESSAGES = Counter(
    "fraudcases_stream_messages_total",
    "Stream messages handled by a consumer, by stream and outcome (stored, duplicate, dead).",
    ["stream", "outcome"],
)
STREAM_LAG = Gauge(
    "fraudcases_stream_lag_messages",
    "Messages waiting in a stream for a consumer group (set by the live consumers).",
    ["stream", "group"],
    multiprocess_mode="livemax",
)


def _after_commit(fn) -> None:
    """Run ``fn`` once the current transaction commits (now, outside a transaction)."""
    transaction.on_commit(fn)


def transactions_ingested(*, source: str, accepted: int, duplicates: int) -> None:
    """Count one ingested batch (after its rows are committed)."""

    def count() -> None:
        TRANSACTIONS_INGESTED.labels(source=source).inc(accepted)
        TRANSACTIONS_DUPLICATE.labels(source=source).inc(duplicates)
        BATCH_SIZE.labels(stage="ingest").observe(accepted + duplicates)

    _after_commit(count)


def transactions_scored(*, sources: Iterable[str], seconds: float) -> None:
    """Count one scored batch: its rows by source and how long it took (after commit)."""
    by_source = Tally(sources)

    def count() -> None:
        for source, n in by_source.items():
            TRANSACTIONS_SCORED.labels(source=source).inc(n)
        BATCH_SIZE.labels(stage="score").observe(sum(by_source.values()))
        SCORING_DURATION.observe(seconds)

    _after_commit(count)


def transactions_failed(*, sources: Iterable[str]) -> None:
    """Count rows marked failed (after commit)."""
    by_source = Tally(sources)

    def count() -> None:
        for source, n in by_source.items():
            TRANSACTIONS_FAILED.labels(source=source).inc(n)

    _after_commit(count)


def case_opened(*, priority: str) -> None:
    """Count a case opened by the worker (after commit)."""
    _after_commit(lambda: CASES_OPENED.labels(priority=priority).inc())


def rule_error(*, rule: str) -> None:
    """Count a rule skipped for a batch because it failed (counted at once: the skip happened)."""
    RULE_ERRORS.labels(rule=rule).inc()


# --- Exposition --------------------------------------------------------------------------------


class _ProcessFilesCollector:
    """Merge the sample files of every process group under the metrics base directory."""

    def collect(self):
        for _ in range(3):
            files = glob.glob(str(metrics_base_dir() / "*" / "*.db"))
            try:
                return MultiProcessCollector.merge(files, accumulate=True)
            except FileNotFoundError:  # a directory was pruned while we read it: read again
                continue
        return []


# Collectors that read state at scrape time (the scoring app's queue, workers, model, drift
# and audit check: ``scoring.metrics``), added by the apps at start-up.
_STATE_COLLECTORS: list = []


def collector_register(collector) -> None:
    """Add a scrape-time collector (an object with ``collect()``) to ``/metrics``; idempotent
    per collector class."""
    if not any(type(known) is type(collector) for known in _STATE_COLLECTORS):
        _STATE_COLLECTORS.append(collector)


def metrics_exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition for ``/metrics`` and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessFilesCollector())
    for collector in _STATE_COLLECTORS:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
