"""Liveness of the parts ``/healthz`` reports on: database, broker, workers, the champion model.

Each check answers ``{"ok": bool, "detail": str}``. The details (vendor, broker transport, file
paths, exception text) are for staff only; anonymous callers of ``/healthz`` see the names of the
failing checks and nothing else (``fraudcases.views.ops``).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import current_app as app
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from core import audit

from ..models import ModelVersion, WorkerHeartbeat
from .registry import file_check_cache

logger = logging.getLogger(__name__)


def worker_heartbeat_record(*, hostname: str) -> None:
    """Called by each worker every few seconds (from its timer thread)."""
    close_old_connections()
    try:
        WorkerHeartbeat.objects.update_or_create(
            hostname=hostname, defaults={"last_seen": timezone.now(), "pid": os.getpid()}
        )
    except DatabaseError as exc:
        # The database is down or busy: the heartbeat goes stale and /healthz says so.
        logger.warning("Heartbeat not recorded: %s", type(exc).__name__)
    finally:
        connection.close()


def champion_file_check() -> dict:
    """Is there a champion, and is its file present and unchanged (SHA-256)?"""
    mv = (
        ModelVersion.objects.filter(role=ModelVersion.Role.CHAMPION)
        .only("version", "file_path", "sha256")
        .first()
    )
    if mv is None:
        return {"ok": False, "detail": "no champion model: run `manage.py train_model`"}
    path = Path(mv.file_path)
    try:
        ok = file_check_cache.matches(path, mv.sha256)
    except FileNotFoundError:
        return {"ok": False, "detail": f"champion {mv.version}: file {path} is missing"}
    except OSError as exc:
        return {"ok": False, "detail": f"champion {mv.version}: file {path} unreadable ({exc})"}
    if not ok:
        return {
            "ok": False,
            "detail": f"champion {mv.version}: file {path} does not match its SHA-256",
        }
    return {"ok": True, "detail": f"champion {mv.version}"}


def audit_check_status() -> dict | None:
    """The latest audit-chain verification (``core.audit.audit_last_check``), normalised:
    ``{"ok", "checked", "at" (aware datetime or None), "reason"}``; None when never run."""
    last_check = getattr(audit, "audit_last_check", None)
    if last_check is None:
        return None
    try:
        result = last_check()
    except DatabaseError:
        raise
    except Exception:  # a broken status reader must not take /metrics down with it
        logger.exception("audit_last_check failed")
        return None
    if not result:
        return None
    at = result.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            at = None
    if isinstance(at, datetime) and timezone.is_naive(at):
        at = at.replace(tzinfo=UTC)
    return {
        "ok": bool(result.get("ok")),
        "checked": result.get("checked"),
        "at": at if isinstance(at, datetime) else None,
        "reason": result.get("reason") or "",
    }


def _database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        # A broken connection is dropped so the next probe reconnects.
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".strip()}
    return {"ok": True, "detail": connection.vendor}


def _broker_check() -> dict:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "detail": app.conf.broker_url.split("://")[0]}


def health_check() -> dict[str, dict]:
    """Status of each dependency: ``{"database": {"ok": bool, "detail": str}, ...}``.

    ``database``, ``broker``, ``worker`` (a heartbeat newer than
    ``WORKER_HEARTBEAT_STALE_SECONDS``) and ``model`` (a champion whose file is present and
    matches its SHA-256; a scoring worker cannot score without it).
    """
    checks: dict[str, dict] = {"database": _database_check(), "broker": _broker_check()}
    if not checks["database"]["ok"]:
        unknown = {"ok": False, "detail": "unknown: database unavailable"}
        checks["worker"] = dict(unknown)
        checks["model"] = dict(unknown)
        return checks
    try:
        stale = settings.WORKER_HEARTBEAT_STALE_SECONDS
        alive = WorkerHeartbeat.objects.filter(
            last_seen__gte=timezone.now() - timedelta(seconds=stale)
        ).count()
        checks["worker"] = {
            "ok": alive > 0,
            "detail": f"{alive} worker(s) seen in the last {stale} s",
        }
        checks["model"] = champion_file_check()
    except DatabaseError as exc:
        connection.close_if_unusable_or_obsolete()
        lost = {"ok": False, "detail": f"database lost during the check: {type(exc).__name__}"}
        checks["database"] = lost
        checks["worker"] = dict(lost)
        checks["model"] = dict(lost)
    return checks
