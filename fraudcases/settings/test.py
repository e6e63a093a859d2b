"""Test settings: fast hashing, isolated var dir; PostgreSQL/Redis when the env names them."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, REST_FRAMEWORK, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Models trained by this test run; the directory is made at start-up (core.runtime).
MODEL_STORE_DIR = Path(
    env.str(
        "MODEL_STORE_DIR",
        default=str(Path(tempfile.gettempdir()) / f"fraudcases-models-{os.getpid()}"),
    )
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not :memory:) so a separate worker process in the end-to-end test can see it.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("SQLITE_TEST_PATH", default=str(VAR_DIR / "test.sqlite3"))
    }
# This run's own audit anchors (no test reads anchors another run left behind).
AUDIT_ANCHOR_PATH = Path(
    env.str(
        "AUDIT_ANCHOR_PATH",
        default=str(Path(tempfile.gettempdir()) / f"fraudcases-anchors-{os.getpid()}.jsonl"),
    )
)
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Each test process its own cache, even with a Redis broker (base.py shares the broker's Redis
# only when CACHE_URL is unset); CACHE_URL still picks a shared one on purpose.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# A queue of this test run's own, so a demo worker on the same broker never takes its tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default=f"fraudcases-test-{os.getpid()}")
# Budgets no test reaches by accident; the throttling tests set their own.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min", "user": "100000/min"},
}
# Test teardown flushes every table: let it past the audit log's append-only triggers (SQLite:
# the connection function; PostgreSQL: a session variable the trigger honours for the table
# owner). Tests of the guard switch it back off for themselves. docs/audit.md.
AUDIT_DB_MAINTENANCE = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c fraudcases.audit_maintenance=on"
