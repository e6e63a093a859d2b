"""What a delivery says: the JSON payload (built once, at the first attempt, then fixed), and the
email, Slack and webhook renderings of it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from fraudcases.models import AccountAction, Case
from scoring.engine.explain import reason_label

from .models import ACCOUNT_ACTION_EVENTS, Delivery, EventType

MAX_REASONS = 5
MAX_TRANSACTIONS = 5
PAYLOAD_VERSION = 1


def case_url(case_id: int) -> str:
    return f"{settings.ALERTS_BASE_URL.rstrip('/')}/cases/{case_id}/"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def case_summary(case: Case) -> dict[str, Any]:
    """The case as receivers see it: state, amounts, reasons in plain words, last transactions."""
    txns = list(
        case.transactions.order_by("-risk_score", "-occurred_at").only(
            "external_id",
            "amount",
            "currency",
            "occurred_at",
            "risk_score",
            "reasons",
            "merchant_id",
            "country",
        )
    )
    reasons: dict[str, dict[str, Any]] = {}
    for txn in txns:
        for reason in txn.reasons or []:
            code = str(reason.get("code") or "")
            if code and code not in reasons:
                reasons[code] = {
                    "code": code,
                    "label": reason_label(code),
                    "detail": str(reason.get("detail") or ""),
                }
    currencies = {t.currency for t in txns}
    return {
        "id": case.pk,
        "url": case_url(case.pk),
        "account_id": case.account_id,
        "title": case.title,
        "status": case.status,
        "priority": case.priority,
        "risk_score": case.risk_score,
        "risk_level": case.risk_level,
        "disposition": case.disposition or None,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "transaction_count": len(txns),
        "currency": next(iter(currencies)) if len(currencies) == 1 else None,
        "total_amount": _money(sum((t.amount for t in txns), Decimal(0))) if txns else None,
        "largest_amount": _money(max((t.amount for t in txns), default=None)),
        "reasons": list(reasons.values())[:MAX_REASONS],
        "transactions": [
            {
                "external_id": t.external_id,
                "amount": _money(t.amount),
                "currency": t.currency,
                "occurred_at": t.occurred_at.isoformat(),
                "risk_score": t.risk_score,
                "merchant_id": t.merchant_id,
                "country": t.country,
            }
            for t in txns[:MAX_TRANSACTIONS]
        ],
    }


def _change(event: AuditEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "actor": event.actor_label,
        "at": event.created_at.isoformat(),
        "note": (event.note or "")[:2000],
        "before": event.before,
        "after": event.after,
    }


def delivery_payload(delivery: Delivery) -> dict[str, Any]:
    """The JSON body of a case-event delivery (also the source of the email and Slack text)."""
    events = [delivery.event] if delivery.event_id else []
    events += [b.event for b in delivery.batched.select_related("event").order_by("event_id")]
    new_transactions = sum(
        len((e.after or {}).get("transactions") or []) for e in events if e is not None
    )
    payload = {
        "version": PAYLOAD_VERSION,
        "delivery_id": str(delivery.delivery_id),
        "event": delivery.event_type,
        "event_ids": [e.pk for e in events],
        "sent_at": timezone.now().isoformat(),
        "case": case_summary(delivery.case),
        "change": _change(delivery.event) if delivery.event_id else None,
    }
    if delivery.event_type == EventType.UPDATED:
        payload["batched_events"] = len(events)
        payload["new_transactions"] = new_transactions
    if delivery.event_type in ACCOUNT_ACTION_EVENTS:
        payload["account_action"] = account_action_summary(delivery.event)
    return payload


def test_payload(delivery: Delivery) -> dict[str, Any]:
    """The body of a "send test message": no case, clearly marked."""
    return {
        "version": PAYLOAD_VERSION,
        "delivery_id": str(delivery.delivery_id),
        "event": EventType.TEST.value,
        "event_ids": [],
        "sent_at": timezone.now().isoformat(),
        "test": True,
        "message": f"Test message from fraudcases to channel '{delivery.channel.name}', "
        f"requested by {delivery.created_by}.",
        "case": None,
        "change": None,
    }


def json_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact, keys sorted, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


EVENT_HEADLINES = {
    EventType.OPENED: "New {priority} case",
    EventType.UPDATED: "More risky activity on {priority} case",
    EventType.ESCALATED: "Case escalated",
    EventType.CLOSURE_REQUESTED: "Closure requested",
    EventType.CLOSURE_APPROVED: "Closure approved",
    EventType.CLOSURE_REJECTED: "Closure sent back",
    EventType.CLOSED: "Case closed",
    EventType.REOPENED: "Case reopened",
    EventType.ACCOUNT_ACTION_APPROVED: "Account action approved for case",
}


def headline(payload: dict[str, Any]) -> str:
    """One line: ``New critical case #12 on acct-000123: velocity burst``."""
    case = payload.get("case")
    if not case:
        return payload.get("message") or "Test message from fraudcases"
    lead = EVENT_HEADLINES.get(payload["event"], payload["event"]).format(priority=case["priority"])
    tail = f" ({case['disposition'].replace('_', ' ')})" if case.get("disposition") else ""
    return f"{lead} #{case['id']} on {case['account_id']}{tail}"


def email_message(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text body, HTML body)."""
    context = {"p": payload, "case": payload.get("case"), "headline": headline(payload)}
    subject = f"[fraudcases] {headline(payload)}"[:200]
    text = render_to_string("alerts/email/case.txt", context)
    html = render_to_string("alerts/email/case.html", context)
    return subject, text, html


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A Block Kit message (with a plain ``text`` fallback for notifications)."""
    title = headline(payload)
    case = payload.get("case")
    if not case:
        return {
            "text": title,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}}],
        }
    amount = (
        f"{case['largest_amount']} {case['currency'] or ''}".strip()
        if case["largest_amount"]
        else "—"
    )
    reasons = "\n".join(
        f"• *{r['label']}*" + (f": {r['detail']}" if r["detail"] else "") for r in case["reasons"]
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Account*\n{case['account_id']}"},
                {
                    "type": "mrkdwn",
                    "text": f"*Risk*\n{case['risk_score']:.1f} ({case['risk_level']})",
                },
                {"type": "mrkdwn", "text": f"*Status*\n{case['status'].replace('_', ' ')}"},
                {"type": "mrkdwn", "text": f"*Largest amount*\n{amount}"},
            ],
        },
    ]
    if reasons:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Why*\n{reasons}"[:3000]}}
        )
    change = payload.get("change") or {}
    if change.get("note") and payload["event"] != EventType.OPENED:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"{change['actor']}: {change['note']}"[:300]}
                ],
            }
        )
    if payload.get("new_transactions"):
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{payload['new_transactions']} more transactions attached "
                        f"({payload['batched_events']} updates in this message)",
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": f"Open case #{case['id']}"},
                    "url": case["url"],
                }
            ],
        }
    )
    return {"text": title, "blocks": blocks}


def account_action_summary(event: AuditEvent) -> dict[str, Any]:
    """The account action an ``account_action.approved`` event carries to core banking (the
    stable schema of docs/alerts.md, "Account actions"). ``idempotency_key`` is the action's:
    the same on every delivery, retry and resend of it, on every channel."""
    action = AccountAction.objects.select_related("requested_by", "decided_by").get(
        pk=int(event.object_id)
    )
    base = settings.ALERTS_BASE_URL.rstrip("/")
    return {
        "id": action.pk,
        "idempotency_key": str(action.idempotency_key),
        "kind": action.kind,
        "kind_label": action.get_kind_display(),
        "account_id": action.account_id,
        "merchant_id": action.merchant_id or None,
        "case_id": action.case_id,
        "reason": action.reason[:2000],
        "requested_by": action.requested_by.get_username(),
        "requested_at": action.requested_at.isoformat(),
        "approval": "supervisor" if action.decided_by_id else "not_required",
        "approved_by": action.decided_by.get_username() if action.decided_by_id else None,
        "approved_at": action.decided_at.isoformat() if action.decided_at else None,
        "result_url": base + reverse("api-account-action-result", args=[action.pk]),
    }
