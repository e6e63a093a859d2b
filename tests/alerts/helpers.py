"""Test helpers for alerts: a real local HTTP receiver, cases opened through the services, and
deliveries routed and attempted as the worker would."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.utils import timezone

from alerts.models import Delivery
from alerts.services import alert_events_dispatch, delivery_attempt
from fraudcases.services import CaseHit, cases_open_or_attach
from tests.factories import TransactionFactory


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 (an ephemeral port) that records every POST and answers
    with the next scripted status code (then ``default``). ``hold`` makes it keep the request
    open, after reading it, until ``release`` is set (a receiver that is slow to answer)."""

    default: int = 200
    script: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    hold: bool = False
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(path=self.path, headers=dict(self.headers.items()), body=body)
                )
                receiver.received.set()
                if receiver.hold:
                    receiver.release.wait(60)
                code = receiver.script.pop(0) if receiver.script else receiver.default
                payload = b"ok" if code < 300 else b'{"error": "failing on purpose"}'
                try:
                    self.send_response(code)
                    if 300 <= code < 400:
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender went away (killed worker)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


REASONS = [
    {"code": "velocity", "detail": "9 earlier transactions in the last hour", "weight": 30.0},
    {"code": "new_device", "detail": "first device dev-9 for this account", "weight": 10.0},
]


def open_case(
    account_id: str = "acct-alert-1",
    *,
    level: str = "high",
    score: int = 80,
    amount: str = "125.50",
    reasons: list[dict] | None = None,
    count: int = 1,
):
    """Risky transactions of ``account_id`` through the real case service (audited): opens the
    account's case or attaches to it. Returns (case, audit events of this call)."""
    from core.models import AuditEvent

    txns = [
        TransactionFactory(
            account_id=account_id,
            risk_score=score,
            risk_level=level,
            amount=Decimal(amount),
            reasons=reasons if reasons is not None else REASONS,
        )
        for _ in range(count)
    ]
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    (case,) = cases_open_or_attach(
        hits=[
            CaseHit(
                account_id=account_id,
                transaction_ids=[t.pk for t in txns],
                risk_score=score,
                risk_level=level,
                reasons=[r["detail"] for r in (reasons if reasons is not None else REASONS)],
                model_version="test",
            )
        ]
    )
    return case, list(AuditEvent.objects.filter(id__gt=last).order_by("id"))


def matrix_objects() -> dict[str, int]:
    """A channel, a routing rule and a dead test delivery for the permission matrix, keyed by
    the URL-name prefixes whose ``pk`` they provide."""
    from django.utils import timezone

    from alerts.models import AlertRule, Channel, Delivery, EventType

    channel = Channel.objects.create(
        name="matrix-channel",
        kind=Channel.Kind.EMAIL,
        target="matrix@example.test",
        events=[EventType.OPENED],
    )
    rule = AlertRule.objects.create(name="matrix-alert-rule", min_risk_level="high")
    rule.channels.add(channel)
    now = timezone.now()
    delivery = Delivery.objects.create(
        idempotency_key="test:matrix",
        channel=channel,
        event_type=EventType.TEST,
        status=Delivery.Status.DEAD,
        scheduled_for=now,
        next_attempt_at=now,
    )
    return {
        "alerts-channel-": channel.pk,
        "alerts-rule-": rule.pk,
        "alerts-delivery-": delivery.pk,
    }


FINAL = {"sent", "dead", "held"}


def routed(account: str = "acct-d1", **kw) -> Delivery:
    case, events = open_case(account, **kw)
    alert_events_dispatch(event_ids=[e.pk for e in events])
    return Delivery.objects.get(case=case, event_type="case.opened")


def run_until_final(delivery: Delivery, limit: int = 10) -> Delivery:
    """What the worker does: attempt, and again when the retry is due."""
    for _ in range(limit):
        delivery.refresh_from_db()
        if delivery.status in FINAL:
            return delivery
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(wait + 0.01)
        delivery_attempt(delivery_id=delivery.pk, worker="test-worker")
    delivery.refresh_from_db()
    return delivery
