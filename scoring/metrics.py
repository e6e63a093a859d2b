"""The scoring state on ``/metrics``, read at scrape time: the scoring queue and its lag, the
workers' heartbeats, the models in service and their file, drift, the last audit check.
A few small queries on indexed columns or tiny tables (docs/observability.md); registered with
the kernel's exposition (``core.metrics.collector_register``) at start-up."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import DriftReport, ModelVersion, Transaction, WorkerHeartbeat
from .services.health import audit_check_status, champion_file_check

logger = logging.getLogger(__name__)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    """An unlabelled gauge with one value."""
    return GaugeMetricFamily(name, help_text, value=value)


class ScoringStateCollector:
    """State read at scrape time: a few small queries on indexed columns or tiny tables."""

    def collect(self):
        now = timezone.now()
        try:
            # Served by the partial index of pending rows (txn_pending_enqueued).
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
