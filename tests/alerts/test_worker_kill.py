"""Exactly once per (event, channel) with a real Celery worker SIGKILLed mid-delivery.

A case is opened through the real service; the committed audit event reaches a real ``celery
worker`` subprocess (on-commit signal → ``alerts.dispatch_events`` → ``alerts.deliver``), which
posts to a local receiver that reads the request and then holds it. The worker is killed
(SIGKILL, its whole process group) before it can record the answer. A second worker, after the
lease, is handed the orphaned claim by the sweep and sends the message again: one delivery row,
one delivery id at the receiver (sent twice, acted on once), the first attempt recorded as lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from alerts.models import Delivery, DispatchedEvent
from alerts.services import alerts_sweep
from fraudcases.celery import app
from scoring.models import WorkerHeartbeat
from tests.helpers import database_url

from .helpers import open_case

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3


@contextmanager
def worker_process(log_path: Path):
    """A real worker in its own process group (so SIGKILL takes the pool child with it)."""
    hostname = f"alerts-e2e-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_QUEUE": app.conf.task_default_queue,
        "FRAUDCASES_VAR_DIR": str(settings.VAR_DIR),
        "ALERTS_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    if settings.CELERY_BROKER_URL:
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    log = open(log_path, "w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "fraudcases", "worker",
            "-Q", app.conf.task_default_queue, "--hostname", hostname, "--concurrency", "1",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not WorkerHeartbeat.objects.filter(hostname=hostname).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"worker did not start (exit {process.returncode}):\n{log.read()}")
            time.sleep(0.3)
        yield process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def wait_for(condition, what: str, log, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read()[-4000:]}")
        time.sleep(0.3)


def test_worker_killed_mid_delivery_delivers_exactly_once(webhook, receiver, tmp_path, settings):
    settings.ALERTS_DELIVERY_LEASE_SECONDS = LEASE_SECONDS
    settings.ALERTS_SWEEP_GRACE_SECONDS = 0
    receiver.hold = True  # read the request, then keep the worker waiting for the answer

    with worker_process(tmp_path / "first.log") as (first, log):
        case, events = open_case("acct-sigkill", level="critical", score=97)  # commits
        wait_for(receiver.received.is_set, "the first POST", log)
        delivery = Delivery.objects.get(case=case, channel=webhook)
        assert delivery.status == Delivery.Status.SENDING
        assert delivery.attempt_log.get().outcome == "in_flight"
        os.killpg(first.pid, signal.SIGKILL)  # mid-delivery: sent, answer never recorded
        first.wait(timeout=20)
    receiver.hold = False
    receiver.release.set()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENDING  # the claim outlived its worker

    with worker_process(tmp_path / "second.log") as (_, log):
        time.sleep(LEASE_SECONDS + 0.5)  # the claim is now older than the lease
        assert alerts_sweep()["requeued"] >= 1
        wait_for(
            lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SENT,
            "the redelivery",
            log,
        )

    delivery.refresh_from_db()
    # One delivery for the event and channel; both POSTs carried its id and the same body.
    assert Delivery.objects.filter(case=case, channel=webhook).count() == 1
    assert DispatchedEvent.objects.filter(event__in=events).count() == len(events)
    assert [a.outcome for a in delivery.attempt_log.order_by("number")] == ["lost", "success"]
    ids = [r.headers["X-Delivery-Id"] for r in receiver.requests]
    assert ids == [str(delivery.delivery_id)] * 2
    assert len({r.body for r in receiver.requests}) == 1
    # What a receiver that drops repeats by id (docs/alerts.md) acts on: exactly one event.
    assert len(set(ids)) == 1
