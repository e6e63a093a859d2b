"""Celery application ``fraudcases`` (``celery -A fraudcases worker`` / ``beat``)."""

import os

from celery import Celery, bootsteps, signals

# Safe by default: production settings unless the environment names others (demo, tests).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcases.settings.production")
os.umask(0o077)  # files the worker and beat create under var/ are private (600/700)

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


# --- Metrics directory, log context and task error counts (obs) ---------------------------------
# Request ids travel into every task as a message header (and score_batch also takes one as a
# keyword argument), so a worker's log lines name the API request that caused them.
REQUEST_ID_HEADER = "fraudcases_request_id"


@signals.celeryd_init.connect
def _worker_metrics_dir(sender=None, **kwargs):
    """Before the pool forks: this worker's own metrics directory, emptied (a restart resets its
    counters, which Prometheus expects). Must run before prometheus-client is imported."""
    from .metrics_process import metrics_process_dir_prepare

    metrics_process_dir_prepare(group=f"worker-{sender}")


@signals.worker_process_shutdown.connect
def _worker_process_metrics_dead(pid=None, **kwargs):
    from .metrics_process import metrics_process_dead

    metrics_process_dead(pid or os.getpid())


@signals.before_task_publish.connect
def _publish_request_id(headers=None, **kwargs):
    from .middleware import current_request_id

    request_id = current_request_id.get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _task_log_context(task_id=None, task=None, kwargs=None, **extra):
    from .logging import current_task_id
    from .middleware import current_request_id

    request_id = (kwargs or {}).get("request_id")
    if not request_id and task is not None:
        request_id = getattr(task.request, REQUEST_ID_HEADER, None)
    current_request_id.set(request_id or None)
    current_task_id.set(task_id)


@signals.task_postrun.connect
def _task_log_context_clear(**kwargs):
    from .logging import current_task_id
    from .middleware import current_request_id

    current_request_id.set(None)
    current_task_id.set(None)


def _count_task_error(task, exc) -> None:
    from .metrics import TASK_ERRORS

    TASK_ERRORS.labels(task=getattr(task, "name", "?"), error=type(exc).__name__).inc()


@signals.task_retry.connect
def _task_retried(sender=None, reason=None, **kwargs):
    # ``reason`` is celery's Retry exception; the error that caused it is its ``exc``.
    _count_task_error(sender, getattr(reason, "exc", None) or reason)


@signals.task_failure.connect
def _task_failed(sender=None, exception=None, **kwargs):
    _count_task_error(sender, exception)
