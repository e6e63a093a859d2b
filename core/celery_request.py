"""The base class of every Celery task of the project, and its worker-side request.

kombu's Redis transport raises ``AttributeError`` (``'NoneType' object has no attribute
'hostname'``) when a message is acknowledged on a channel whose connection a reconnect has
already closed: a task that finishes while the consumer re-establishes its broker connection
acknowledges through the old channel. Celery counts anything but a connection error there as
unrecoverable and stops the worker; seen in the Redis-restart fault test (docs/reliability.md),
where the stopping worker then hung, consuming nothing, while rows waited.

That acknowledgement is moot: the delivery tag belongs to the dead channel. The broker keeps the
message as unacknowledged and restores it after the visibility timeout (or lost it with a
restarted Redis), every task here is idempotent, and the beat sweep re-enqueues rows still
pending. So the request counts ``AttributeError`` among the errors an ack or reject may meet:
kombu logs it (``Couldn't ack …``, critical) and the worker goes on. Nothing else changes.
Imported by ``fraudcases.celery`` before Django is set up, so nothing here imports Django.
"""

from __future__ import annotations

from celery import Task as CeleryTask
from celery.worker.request import Request

# A message acknowledged on a channel closed by a reconnect (see the module docstring).
STALE_CHANNEL_ERRORS = (AttributeError,)


class BrokerSafeRequest(Request):
    """A task request whose acknowledgement survives a broker reconnect: an ack or reject on
    a channel closed under it is logged by kombu instead of stopping the worker."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._connection_errors = (*self._connection_errors, *STALE_CHANNEL_ERRORS)


class Task(CeleryTask):
    """Base of every task (``Celery(task_cls=…)``): requests are :class:`BrokerSafeRequest`."""

    Request = "core.celery_request:BrokerSafeRequest"
