"""Celery signal handlers of the kernel, connected in every process that loads the Celery app
(web, worker, beat): request ids travel into tasks and their log lines; each worker has its own
metrics directory; task errors are counted. Imported by ``fraudcases.celery`` before Django is
set up, so nothing here imports Django."""

from __future__ import annotations

import gc
import os

from celery import signals

from .logging import current_task_id
from .metrics_process import metrics_process_dead, metrics_process_dir_prepare
from .middleware import current_request_id

# Request ids travel into every task as a message header (and score_batch also takes one as a
# keyword argument), so a worker's log lines name the API request that caused them.
REQUEST_ID_HEADER = "fraudcases_request_id"


@signals.celeryd_init.connect
def _worker_metrics_dir(sender=None, **kwargs):
    """Before the pool forks: this worker's own metrics directory, emptied (a restart resets its
    counters, which Prometheus expects). Must run before prometheus-client is imported."""
    metrics_process_dir_prepare(group=f"worker-{sender}")


@signals.worker_init.connect
def _freeze_before_fork(**kwargs):
    """Once the worker has imported everything and before the pool forks: move every object
    to the collector's permanent generation. The pool's children share those pages with this
    process copy-on-write; a collection in a child walks and writes every tracked object and
    would copy them all (measured: each child held 136 MB of private pages while scoring)."""
    gc.collect()
    gc.freeze()


@signals.worker_process_shutdown.connect
def _worker_process_metrics_dead(pid=None, **kwargs):
    metrics_process_dead(pid or os.getpid())


@signals.before_task_publish.connect
def _publish_request_id(headers=None, **kwargs):
    request_id = current_request_id.get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _task_log_context(task_id=None, task=None, kwargs=None, **extra):
    request_id = (kwargs or {}).get("request_id")
    if not request_id and task is not None:
        request_id = getattr(task.request, REQUEST_ID_HEADER, None)
    current_request_id.set(request_id or None)
    current_task_id.set(task_id)


@signals.task_postrun.connect
def _task_log_context_clear(**kwargs):
    current_request_id.set(None)
    current_task_id.set(None)


def _count_task_error(task, exc) -> None:
    # Late: prometheus-client may only be imported once this process's metrics directory is set.
    from .metrics import TASK_ERRORS

    TASK_ERRORS.labels(task=getattr(task, "name", "?"), error=type(exc).__name__).inc()


@signals.task_retry.connect
def _task_retried(sender=None, reason=None, **kwargs):
    # ``reason`` is celery's Retry exception; the error that caused it is its ``exc``.
    _count_task_error(sender, getattr(reason, "exc", None) or reason)


@signals.task_failure.connect
def _task_failed(sender=None, exception=None, **kwargs):
    _count_task_error(sender, exception)
