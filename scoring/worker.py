"""The worker's liveness heartbeat (a Celery bootstep named by ``fraudcases.celery``)."""

from __future__ import annotations

from celery import bootsteps
from django.conf import settings

from .services.health import worker_heartbeat_record


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
        def beat():
            worker_heartbeat_record(hostname=worker.hostname)

        beat()
        self.tref = worker.timer.call_repeatedly(settings.WORKER_HEARTBEAT_SECONDS, beat)

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
