"""Log records as one JSON object per line (``LOG_FORMAT=json``) or plain text (``plain``).

Every record carries the request id of the API request it serves (``RequestIdMiddleware``) or,
in a Celery worker, of the request that enqueued the task (``fraudcases.celery`` restores it
before each task), so one grep follows a batch from the POST to its scoring, cases and alert
deliveries. JSON lines are written by python-json-logger.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from .middleware import current_request_id

# The Celery task being run by this thread (set by fraudcases.celery around each task).
current_task_id: ContextVar[str | None] = ContextVar("current_task_id", default=None)

JSON_FIELDS = ("asctime", "levelname", "name", "process", "message")
NO_REQUEST = "-"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestContextFilter(logging.Filter):
    """Add ``request_id`` (``-`` when there is none) and ``task_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id.get() or NO_REQUEST
        if not getattr(record, "task_id", None):
            record.task_id = current_task_id.get() or ""
        return True


class ClientErrorTracebackFilter(logging.Filter):
    """Keep the line, drop the traceback, when Django logs a refused request (4xx): a 403 or a
    404 is an answer, not a fault of the server, and its traceback only hides real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.") and isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """python-json-logger with our field names: ``time`` (ISO 8601, UTC), ``level``,
    ``logger``, ``process``, ``message``, ``request_id`` (null outside a request or task),
    ``task_id`` (in a task), plus any ``extra``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        super().__init__(list(JSON_FIELDS), *args, **kwargs)

    def formatTime(self, record, datefmt=None):
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        # Django's request logger passes the request object itself: its repr is enough.
        for key in ("request", "server_time"):
            if key in log_data:
                log_data[key] = str(log_data[key])
        if log_data.get("request_id") == NO_REQUEST:
            log_data["request_id"] = None
        if not log_data.get("task_id"):
            log_data.pop("task_id", None)


def logging_config(*, log_format: str, level: str) -> dict:
    """The ``LOGGING`` dict for ``log_format`` ``json`` or ``plain``."""
    if log_format not in ("json", "plain"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'plain', not {log_format!r}")
    formatter = (
        {"()": "core.logging.JsonFormatter"} if log_format == "json" else {"format": PLAIN_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_context": {"()": "core.logging.RequestContextFilter"},
            "client_errors": {"()": "core.logging.ClientErrorTracebackFilter"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_context", "client_errors"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django's own handlers would print a second, unformatted copy of request errors.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
