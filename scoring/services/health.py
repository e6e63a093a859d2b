"""Liveness of the parts ``/healthz`` reports on: database, broker, workers."""

from __future__ import annotations

import os
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, close_old_connections, connection
from django.utils import timezone

from ..models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> None:
    """Called by each worker every few seconds (from its timer thread)."""
    close_old_connections()
    try:
        WorkerHeartbeat.objects.update_or_create(
            hostname=hostname, defaults={"last_seen": timezone.now(), "pid": os.getpid()}
        )
    except OperationalError:
        # The database is down or busy: the heartbeat goes stale and /healthz says so.
        pass
    finally:
        connection.close()


def health_check() -> dict[str, dict]:
    """Status of each dependency: ``{"database": {"ok": bool, "detail": str}, ...}``."""
    from fraudcases.celery import app

    checks: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True, "detail": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported verbatim
        checks["database"] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = {"ok": True, "detail": app.conf.broker_url.split("://")[0]}
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    if checks["database"]["ok"]:
        fresh_after = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
        alive = WorkerHeartbeat.objects.filter(last_seen__gte=fresh_after).count()
        checks["worker"] = {
            "ok": alive > 0,
            "detail": f"{alive} worker(s) seen in the last "
            f"{settings.WORKER_HEARTBEAT_STALE_SECONDS} s",
        }
    else:
        checks["worker"] = {"ok": False, "detail": "unknown: database unavailable"}
    return checks
