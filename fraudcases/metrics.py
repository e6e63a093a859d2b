"""Prometheus metrics: what each process counts, and what ``/metrics`` exposes.

Counters and histograms are prometheus-client objects incremented where things happen (ingest,
scoring, case opening, alert delivery, the stream consumer). They run in multiprocess mode (see
``fraudcases.metrics_process``): every process writes its samples to files and a scrape merges
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
import time
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import timedelta

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
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

logger = logging.getLogger(__name__)
if not getattr(values.ValueClass, "_multiprocess", False):  # a wiring bug: say so
    logger.warning(
        "prometheus-client was imported before fraudcases.metrics chose multiprocess mode: "
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


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    """An unlabelled gauge with one value."""
    return GaugeMetricFamily(name, help_text, value=value)


class _DatabaseCollector:
    """State read at scrape time: a few small queries on indexed columns or tiny tables."""

    def collect(self):
        from django.conf import settings
        from django.db import DatabaseError
        from django.db.models import Count, Min
        from django.utils import timezone

        from scoring.models import DriftReport, ModelVersion, Transaction, WorkerHeartbeat
        from scoring.services.health import audit_check_status, champion_file_check

        now = timezone.now()
        try:
            # Served by the (status, enqueued_at) index: only pending rows are read.
            pending = Transaction.objects.filter(status=Transaction.Status.PENDING).aggregate(
                n=Count("id"), oldest=Min("created_at")
            )
            beats = list(WorkerHeartbeat.objects.values_list("hostname", "last_seen"))
            models = list(
                ModelVersion.objects.filter(
                    role__in=[ModelVersion.Role.CHAMPION, ModelVersion.Role.CHALLENGER]
                ).values_list("version", "role")
            )
            drift = (
                DriftReport.objects.order_by("-created_at")
                .values("score_psi", "alert", "created_at")
                .first()
            )
            model_file = champion_file_check()
        except DatabaseError as exc:
            logger.warning("Metrics: database unavailable (%s)", type(exc).__name__)
            yield _gauge("fraudcases_database_up", "1 when the database answered this scrape.", 0)
            return
        yield _gauge("fraudcases_database_up", "1 when the database answered this scrape.", 1)
        yield _gauge(
            "fraudcases_transactions_pending", "Transactions waiting to be scored.", pending["n"]
        )
        oldest = pending["oldest"]
        yield _gauge(
            "fraudcases_oldest_pending_seconds",
            "Age of the oldest transaction waiting to be scored (queue lag); 0 when none.",
            round((now - oldest).total_seconds(), 3) if oldest else 0.0,
        )
        ages = GaugeMetricFamily(
            "fraudcases_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat.",
            labels=["worker"],
        )
        fresh_after = now - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
        for hostname, seen in beats:
            ages.add_metric([hostname], round((now - seen).total_seconds(), 3))
        yield ages
        yield _gauge(
            "fraudcases_workers_alive",
            "Workers with a heartbeat newer than WORKER_HEARTBEAT_STALE_SECONDS.",
            sum(1 for _, seen in beats if seen >= fresh_after),
        )
        info = GaugeMetricFamily(
            "fraudcases_model_info",
            "The model versions in service (1 per version and role).",
            labels=["version", "role"],
        )
        for version, role in models:
            info.add_metric([version, role], 1)
        yield info
        yield _gauge(
            "fraudcases_model_file_ok",
            "1 when the champion's file is present and matches its SHA-256; 0 otherwise.",
            1 if model_file["ok"] else 0,
        )
        if drift is not None:
            if drift["score_psi"] is not None:
                yield _gauge(
                    "fraudcases_drift_score_psi",
                    "Population stability index of the score in the latest drift report.",
                    drift["score_psi"],
                )
            yield _gauge(
                "fraudcases_drift_alert",
                "1 when the latest drift report is above DRIFT_PSI_THRESHOLD.",
                1 if drift["alert"] else 0,
            )
            yield _gauge(
                "fraudcases_drift_report_timestamp_seconds",
                "When the latest drift report was made (Unix time).",
                drift["created_at"].timestamp(),
            )
        audit = audit_check_status()
        if audit is not None:
            yield _gauge(
                "fraudcases_audit_verify_ok",
                "1 when the latest audit chain verification passed, 0 when it failed.",
                1 if audit["ok"] else 0,
            )
            if audit.get("at") is not None:
                yield _gauge(
                    "fraudcases_audit_verify_timestamp_seconds",
                    "When the audit chain was last verified (Unix time).",
                    audit["at"].timestamp(),
                )
        yield _gauge(
            "fraudcases_scrape_timestamp_seconds", "Time of this scrape (Unix time).", time.time()
        )


def metrics_exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition for ``/metrics`` and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessFilesCollector())
    registry.register(_DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
