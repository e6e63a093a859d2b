"""Test settings: fast hashing, isolated var dir; PostgreSQL/Redis when the env names them."""

import os
import tempfile

from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MODEL_STORE_DIR = __import__("pathlib").Path(
    env.str("MODEL_STORE_DIR", default=tempfile.mkdtemp(prefix="fraudcases-models-"))
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not :memory:) so a separate worker process in the end-to-end test can see it.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("SQLITE_TEST_PATH", default=str(VAR_DIR / "test.sqlite3"))
    }
LOGGING = {"version": 1, "disable_existing_loggers": False}
# A queue of this test run's own, so a demo worker on the same broker never takes its tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default=f"fraudcases-test-{os.getpid()}")
