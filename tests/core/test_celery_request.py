"""A task acknowledged after a broker reconnect does not stop the worker (core/celery_request.py).

Against the configured Redis (CI; skipped with the embedded broker, whose channels have no
connection pool to lose): a real task message is taken from a queue of this test's own, its
connection is closed as a reconnect closes it, and the request is acknowledged afterwards.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from celery.worker.request import Request
from django.conf import settings
from kombu import Connection, Queue

from core.celery_request import BrokerSafeRequest
from fraudcases.celery import app
from scoring.tasks import sweep_pending

pytestmark = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the configured Redis"
)


@pytest.fixture
def message_on_a_closed_channel():
    """A real ``scoring.sweep_pending`` message, fetched, then its channel closed under it."""
    queue = Queue(f"test-ack-{uuid.uuid4().hex}")
    sweep_pending.apply_async(queue=queue.name, declare=[queue])
    connection = Connection(settings.CELERY_BROKER_URL)
    channel = connection.channel()
    bound = queue(channel)
    message = bound.get(no_ack=False)
    assert message is not None
    # What a lost connection does to it before the task finishes: the channel gives its
    # unacknowledged messages back ("Restoring 1 unacknowledged message(s)"), then the
    # consumer closes the connection and reconnects with a new one.
    channel.qos.restore_unacked_once()
    connection.close()
    yield message
    with Connection(settings.CELERY_BROKER_URL) as cleanup:
        queue(cleanup.default_channel).delete()


def request_for(cls, message):
    return cls(
        message,
        on_ack=message.ack_log_error,
        on_reject=message.reject_log_error,
        app=app,
        task=sweep_pending,
        connection_errors=Connection(settings.CELERY_BROKER_URL).connection_errors,
    )


def test_kombu_raises_on_an_ack_through_a_closed_channel(message_on_a_closed_channel):
    """The upstream behaviour the request guards against (if this starts failing, kombu has
    fixed it and the guard can go)."""
    with pytest.raises(AttributeError):
        request_for(Request, message_on_a_closed_channel).acknowledge()


def test_the_project_request_logs_that_ack_and_goes_on(message_on_a_closed_channel, caplog):
    assert sweep_pending.Request == "core.celery_request:BrokerSafeRequest"
    request = request_for(BrokerSafeRequest, message_on_a_closed_channel)
    with caplog.at_level(logging.CRITICAL):
        request.acknowledge()
    assert request.acknowledged
    assert any("Couldn't ack" in r.getMessage() for r in caplog.records)


def test_a_reject_through_a_closed_channel_is_logged_too(message_on_a_closed_channel, caplog):
    request = request_for(BrokerSafeRequest, message_on_a_closed_channel)
    with caplog.at_level(logging.CRITICAL):
        request.reject(requeue=False)
    assert request.acknowledged
