"""Email through a real SMTP server (aiosmtpd on 127.0.0.1) and Slack against a local receiver.

The real Slack is the outside world: its incoming-webhook endpoint is replaced by the local
receiver, which checks what Slack would parse (a Block Kit message)."""

from __future__ import annotations

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from alerts.models import Delivery
from alerts.services import alert_rule_create, channel_create

from .helpers import routed, run_until_final

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps every message; refuses recipients at ``refused.example``."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.ALERTS_FROM_EMAIL = "alerts@fraudcases.test"
    settings.ALERTS_BASE_URL = "https://fraud.bank.example"
    yield mailbox
    controller.stop()


def email_channel(admin_user, target: str):
    channel = channel_create(actor=admin_user, name="fraud-team", kind="email", target=target)
    alert_rule_create(actor=admin_user, name="r", channels=[channel], min_risk_level="high")
    return channel


def test_email_goes_through_a_real_smtp_server_with_text_and_html(admin_user, smtp):
    email_channel(admin_user, "fraud-team@bank.example, oncall@bank.example")
    delivery = run_until_final(routed("acct-mail", level="critical", score=96, amount="4200"))
    assert delivery.status == Delivery.Status.SENT
    (message,) = smtp.messages
    assert sorted(smtp.envelopes[0].rcpt_tos) == ["fraud-team@bank.example", "oncall@bank.example"]
    assert message["From"] == "alerts@fraudcases.test"
    assert message["Subject"] == (
        f"[fraudcases] New critical case #{delivery.case_id} on acct-mail"
    )
    assert message["X-Fraudcases-Delivery-Id"] == str(delivery.delivery_id)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://fraud.bank.example/cases/{delivery.case_id}/"
    for body in (text, html):
        assert link in body
        assert "acct-mail" in body and "4200.00" in body
        assert "9 earlier transactions in the last hour" in body  # the reason in plain words
    assert f'href="{link}"' in html


def test_a_refused_recipient_is_a_permanent_failure(admin_user, smtp):
    email_channel(admin_user, "nobody@refused.example")
    delivery = run_until_final(routed("acct-mail2"))
    assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 1
    attempt = delivery.attempt_log.get()
    assert attempt.outcome == "permanent" and attempt.status_code == 550
    assert "No such mailbox" in attempt.error
    assert not smtp.messages


def test_smtp_server_down_is_transient(admin_user, settings, fast_retries):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    email_channel(admin_user, "fraud-team@bank.example")
    delivery = run_until_final(routed("acct-mail3"))
    assert delivery.status == Delivery.Status.DEAD
    assert set(delivery.attempt_log.values_list("outcome", flat=True)) == {"transient"}


def test_slack_gets_a_block_kit_message(admin_user, receiver, settings):
    settings.ALERTS_BASE_URL = "https://fraud.bank.example"
    channel = channel_create(
        actor=admin_user,
        name="slack-critical",
        kind="slack",
        target="#fraud-critical",
        secret=f"{receiver.url}/services/T000/B000/XXXX",
    )
    alert_rule_create(actor=admin_user, name="r", channels=[channel], min_risk_level="high")
    delivery = run_until_final(routed("acct-slack", level="critical", score=97))
    assert delivery.status == Delivery.Status.SENT
    (request,) = receiver.requests
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["Content-Type"] == "application/json"
    message = request.json()
    assert message["text"].startswith("New critical case #")
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "actions"
    fields = " ".join(f["text"] for f in message["blocks"][1]["fields"])
    assert "acct-slack" in fields and "97.0 (critical)" in fields  # one decimal (issue 12)
    why = next(b for b in message["blocks"] if b["type"] == "section" and "text" in b)
    assert "9 earlier transactions in the last hour" in why["text"]["text"]
    button = message["blocks"][-1]["elements"][0]
    assert button["url"] == f"https://fraud.bank.example/cases/{delivery.case_id}/"
    # No signature headers for Slack (the URL is the credential) and no secret in the body.
    assert "X-Signature" not in request.headers
    assert "XXXX" not in request.body.decode()
