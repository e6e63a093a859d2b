"""Celery application ``fraudcases`` (``celery -A fraudcases worker`` / ``beat``)."""

import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcases.settings.local")

app = Celery("fraudcases")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class HeartbeatStep(bootsteps.StartStopStep):
    """Record this worker as alive in the database every few seconds, for ``/healthz``.

    The embedded filesystem broker has no broadcast channel for ``inspect ping``, so liveness goes
    through the one store every process shares.
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        from django.conf import settings

        from scoring.services.health import worker_heartbeat_record

        def beat():
            worker_heartbeat_record(hostname=worker.hostname)

        beat()
        self.tref = worker.timer.call_repeatedly(settings.WORKER_HEARTBEAT_SECONDS, beat)

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()


app.steps["worker"].add(HeartbeatStep)
