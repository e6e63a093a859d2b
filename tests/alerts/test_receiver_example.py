"""The receiver example of docs/alerts.md, run as it is written, as an independent process: it
accepts real signed deliveries (once per delivery id) and refuses a tampered body, a wrong
secret and a replay older than 5 minutes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from alerts.models import Delivery
from alerts.services import alert_rule_create, channel_create, delivery_resend
from alerts.transport import signature

from .helpers import routed, run_until_final

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]  # starts the receiver as a process
DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"
SECRET = "receiver-example-secret"


def example_code() -> str:
    text = DOC.read_text()
    block = re.search(
        r"<!-- receiver-example:start -->\s*```python\n(.*?)```\s*<!-- receiver-example:end -->",
        text,
        re.S,
    )
    assert block, "docs/alerts.md lost its receiver example"
    return block.group(1)


@pytest.fixture
def example_receiver(tmp_path):
    script = tmp_path / "receiver.py"
    script.write_text(example_code())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = open(tmp_path / "out.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "WEBHOOK_SECRET": SECRET, "PORT": str(port)},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                out.seek(0)
                pytest.fail(f"the example receiver did not start:\n{out.read()}")
            time.sleep(0.1)

    def handled() -> list[dict]:
        out.flush()
        out.seek(0)
        return [json.loads(line) for line in out.read().splitlines() if line.startswith("{")]

    try:
        yield f"http://127.0.0.1:{port}/", handled
    finally:
        process.terminate()
        process.wait(timeout=10)
        out.close()


def post(url: str, body: bytes, headers: dict) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_documented_receiver_verifies_real_deliveries(example_receiver, admin_user, supervisor):
    url, handled = example_receiver
    channel = channel_create(
        actor=admin_user, name="example", kind="webhook", target=url, secret=SECRET
    )
    alert_rule_create(actor=admin_user, name="r", channels=[channel], min_risk_level="high")
    delivery = run_until_final(routed("acct-example"))
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempt_log.get().response_excerpt == "ok"
    assert handled() == [{"event": "case.opened", "case": delivery.case_id}]

    # A resend carries the same delivery id: accepted, and not acted upon twice.
    delivery_resend(actor=supervisor, delivery=delivery)
    assert run_until_final(delivery).status == Delivery.Status.SENT
    assert delivery.attempts == 2
    assert len(handled()) == 1


def test_the_documented_receiver_refuses_forgeries_and_replays(example_receiver):
    url, handled = example_receiver
    body = json.dumps({"event": "case.closed", "case": {"id": 7}}).encode()

    def headers(timestamp: int, *, secret: str = SECRET, signed: bytes = body) -> dict:
        return {
            "Content-Type": "application/json",
            "X-Delivery-Id": f"d-{timestamp}-{secret}",
            "X-Timestamp": str(timestamp),
            "X-Signature": signature(secret, str(timestamp), signed),
        }

    now = int(time.time())
    assert post(url, body, headers(now)) == (200, "ok")
    assert post(url, body + b" ", headers(now)) == (401, "bad signature")  # tampered
    assert post(url, body, headers(now, secret="someone-else")) == (401, "bad signature")
    replay = headers(now - 6 * 60)  # a genuine signature, captured 6 minutes ago
    assert post(url, body, replay) == (401, "missing or stale timestamp")
    assert post(url, body, headers(now - 4 * 60)) == (200, "ok")  # within 5 minutes
    assert handled() == [{"event": "case.closed", "case": 7}] * 2
