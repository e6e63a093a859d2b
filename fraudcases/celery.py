"""Celery application ``fraudcases`` (``celery -A fraudcases worker`` / ``beat``)."""

import os

from celery import Celery

from core import celery_signals  # noqa: F401 (connects the kernel's signal handlers)

# Safe by default: production settings unless the environment names others (demo, tests).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcases.settings.production")
os.umask(0o077)  # files the worker and beat create under var/ are private (600/700)

# Every task's requests survive a broker reconnect (core/celery_request.py).
app = Celery("fraudcases", task_cls="core.celery_request:Task")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Liveness for /healthz: the scoring app's heartbeat step (named, not imported: the worker
# loads it once Django is set up).
app.steps["worker"].add("scoring.worker:HeartbeatStep")
