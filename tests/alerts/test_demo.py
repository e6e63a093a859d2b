"""The demo's alerting: seed_demo's channels (idempotent) and the local receiver command, run as
a real process, verifying real signed deliveries and going down while its outage file exists."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from alerts.models import AlertRule, Channel, Delivery
from alerts.secrets import secret_encrypt
from alerts.services import alert_events_dispatch, delivery_attempt
from alerts.services.demo import alerts_demo_setup
from core.models import AuditEvent
from tests.helpers import database_url

from .helpers import open_case, run_until_final

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_demo_setup_is_idempotent_and_audited(admin_user):
    created = alerts_demo_setup(actor=admin_user)
    assert len(created) == 4
    assert set(Channel.objects.values_list("name", "kind")) == {
        ("demo-email", "email"),
        ("demo-webhook", "webhook"),
        ("demo-slack", "slack"),
    }
    assert AlertRule.objects.get().channels.count() == 3
    events = AuditEvent.objects.count()
    assert events == 4
    assert alerts_demo_setup(actor=admin_user) == []
    assert AuditEvent.objects.count() == events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, *, up: bool, process, log, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"receiver not {'up' if up else 'down'}:\n{log.read()}")
        time.sleep(0.2)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_alerts_receiver_command_verifies_deliveries_and_simulates_an_outage(
    admin_user, tmp_path, fast_retries
):
    port = free_port()
    alerts_demo_setup(actor=admin_user)
    for name in ("demo-webhook", "demo-slack"):
        channel = Channel.objects.get(name=name)
        target = f"http://127.0.0.1:{port}/{name.split('-')[1]}"
        if name == "demo-webhook":
            Channel.objects.filter(pk=channel.pk).update(target=target)
        else:
            Channel.objects.filter(pk=channel.pk).update(secret_encrypted=secret_encrypt(target))
    Channel.objects.filter(name="demo-email").update(is_active=False)
    down = tmp_path / "receiver.down"
    log = open(tmp_path / "receiver.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "manage.py", "alerts_receiver", "--port", str(port),
         "--down-file", str(down)],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test",
            "DATABASE_URL": database_url(),
            "FRAUDCASES_VAR_DIR": str(settings.VAR_DIR),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_port(port, up=True, process=process, log=log)
        case, events = open_case("acct-demo", level="critical", score=97)
        alert_events_dispatch(event_ids=[e.pk for e in events])
        deliveries = list(Delivery.objects.filter(case=case))
        assert {run_until_final(d).status for d in deliveries} == {"sent"}

        down.touch()  # the outage: the port closes, deliveries are retried
        wait_port(port, up=False, process=process, log=log)
        case2, events2 = open_case("acct-demo-2", level="critical", score=97)
        alert_events_dispatch(event_ids=[e.pk for e in events2])
        (webhook,) = Delivery.objects.filter(case=case2, channel__name="demo-webhook")
        assert delivery_attempt(delivery_id=webhook.pk) == "retrying"
        down.unlink()  # recovery
        wait_port(port, up=True, process=process, log=log)
        assert run_until_final(webhook).status == "sent"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.seek(0)
        output = log.read()
        log.close()
    webhook_id = next(str(d.delivery_id) for d in deliveries if d.channel.name == "demo-webhook")
    assert f"[webhook] verified {webhook_id} case.opened case #{case.pk} acct-demo" in output
    assert f"[slack] New critical case #{case.pk} on acct-demo" in output
    assert "Receiver DOWN" in output and output.count("Receiver UP") == 2
    assert "REFUSED" not in output
