"""Reads of the alerts app. Every selector a page uses takes the user and fails closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from core.permissions import user_can
from fraudcases.models import Case, CaseTransaction

from .models import AlertRule, Channel, Delivery, DeliveryAttempt
from .routing import CaseFacts, rule_matches


def case_facts(*, case_ids: set[int] | list[int]) -> dict[int, CaseFacts]:
    """Routing facts of these cases in two queries: the cases, and their transactions' reason
    codes and amounts."""
    ids = list(case_ids)
    if not ids:
        return {}
    codes: dict[int, set[str]] = {i: set() for i in ids}
    amounts: dict[int, Decimal] = {}
    links = CaseTransaction.objects.filter(case_id__in=ids).values_list(
        "case_id", "transaction__reasons", "transaction__amount"
    )
    for case_id, reasons, amount in links:
        for reason in reasons or []:
            if isinstance(reason, dict) and reason.get("code"):
                codes[case_id].add(str(reason["code"]))
        if amount is not None and (case_id not in amounts or amount > amounts[case_id]):
            amounts[case_id] = amount
    facts = {}
    cases = Case.objects.filter(pk__in=ids).select_related("queue")
    for case in cases.only("id", "risk_level", "priority", "queue__name"):
        facts[case.pk] = CaseFacts(
            case_id=case.pk,
            risk_level=case.risk_level,
            priority=case.priority,
            reason_codes=frozenset(codes.get(case.pk, ())),
            max_amount=amounts.get(case.pk),
            queue=case.queue.name if case.queue_id else "",
        )
    return facts


def channels_for_user(*, user) -> QuerySet[Channel]:
    if not user_can(user, "alerts.view"):
        return Channel.objects.none()
    return Channel.objects.all()


def rules_for_user(*, user) -> QuerySet[AlertRule]:
    if not user_can(user, "alerts.view"):
        return AlertRule.objects.none()
    return AlertRule.objects.prefetch_related("channels")


@dataclass
class ChannelHealth:
    """A channel with its recent record, for the page."""

    channel: Channel
    last_success: Any
    last_failure: Any
    attempts: int
    failures: int
    open_deliveries: int

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.attempts if self.attempts else None


def channel_health(*, user, hours: int = 24) -> list[ChannelHealth]:
    """Each channel the user may see: last success and failure ever, attempts and failures in
    the last ``hours`` (one grouped query each), deliveries still on their way."""
    channels = list(channels_for_user(user=user))
    if not channels:
        return []
    since = timezone.now() - timedelta(hours=hours)
    attempts = DeliveryAttempt.objects.filter(delivery__channel__in=channels)
    recent = {
        row["delivery__channel"]: row
        for row in attempts.filter(started_at__gte=since)
        .values("delivery__channel")
        .annotate(
            total=Count("id"),
            failed=Count(
                "id",
                filter=Q(
                    outcome__in=[
                        DeliveryAttempt.Outcome.TRANSIENT,
                        DeliveryAttempt.Outcome.PERMANENT,
                        DeliveryAttempt.Outcome.LOST,
                    ]
                ),
            ),
        )
    }
    lasts = {
        row["delivery__channel"]: row
        for row in attempts.values("delivery__channel").annotate(
            ok=Max("finished_at", filter=Q(outcome=DeliveryAttempt.Outcome.SUCCESS)),
            bad=Max(
                "finished_at",
                filter=Q(
                    outcome__in=[
                        DeliveryAttempt.Outcome.TRANSIENT,
                        DeliveryAttempt.Outcome.PERMANENT,
                    ]
                ),
            ),
        )
    }
    waiting = dict(
        Delivery.objects.filter(channel__in=channels, status__in=Delivery.OPEN_STATUSES)
        .values("channel")
        .annotate(n=Count("id"))
        .values_list("channel", "n")
    )
    return [
        ChannelHealth(
            channel=c,
            last_success=lasts.get(c.pk, {}).get("ok"),
            last_failure=lasts.get(c.pk, {}).get("bad"),
            attempts=recent.get(c.pk, {}).get("total", 0),
            failures=recent.get(c.pk, {}).get("failed", 0),
            open_deliveries=waiting.get(c.pk, 0),
        )
        for c in channels
    ]


DELIVERY_FILTERS = ("channel", "status", "event_type", "case")


def deliveries_for_user(*, user, filters: dict[str, Any] | None = None) -> QuerySet[Delivery]:
    """Deliveries, newest first, filtered by channel id, status, event type and case id."""
    if not user_can(user, "alerts.view"):
        return Delivery.objects.none()
    qs = Delivery.objects.select_related("channel", "rule", "case")
    filters = filters or {}
    if filters.get("channel"):
        qs = qs.filter(channel_id=filters["channel"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("event_type"):
        qs = qs.filter(event_type=filters["event_type"])
    if filters.get("case"):
        qs = qs.filter(case_id=filters["case"])
    return qs.order_by("-created_at", "-id")


def delivery_get(*, user, delivery_id: int) -> Delivery | None:
    return (
        deliveries_for_user(user=user)
        .prefetch_related("attempt_log", "batched")
        .filter(pk=delivery_id)
        .first()
    )


@dataclass
class RulePreview:
    """Which recent cases a rule would have routed, and where."""

    hours: int
    scanned: int
    matched: list[Case]
    matched_count: int
    channel_names: list[str]
    truncated: bool


def case_facts_recent(*, user, hours: int = 24) -> tuple[dict[int, CaseFacts], bool]:
    """Routing facts of the cases opened in the last ``hours`` (newest first, at most
    ``ALERTS_PREVIEW_MAX_CASES``), and whether there were more."""
    if not user_can(user, "alerts.view"):
        return {}, False
    limit = settings.ALERTS_PREVIEW_MAX_CASES
    since = timezone.now() - timedelta(hours=hours)
    ids = list(
        Case.objects.filter(created_at__gte=since)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[: limit + 1]
    )
    facts = case_facts(case_ids=ids[:limit])
    return {i: facts[i] for i in ids[:limit] if i in facts}, len(ids) > limit


def rule_preview(*, user, rule, channel_names: list[str], hours: int = 24) -> RulePreview | None:
    """Run ``rule`` (saved or not) over the cases opened in the last ``hours``: "these 12 cases
    from the last day would have gone to #fraud-critical". At most ``ALERTS_PREVIEW_MAX_CASES``
    recent cases are scanned (newest first)."""
    if not user_can(user, "alerts.view"):
        return None
    facts, truncated = case_facts_recent(user=user, hours=hours)
    ids = list(facts)
    hit_ids = [i for i in ids if rule_matches(rule, facts[i])]
    shown = {c.pk: c for c in Case.objects.filter(pk__in=hit_ids[:20])}
    return RulePreview(
        hours=hours,
        scanned=len(ids),
        matched=[shown[i] for i in hit_ids[:20] if i in shown],
        matched_count=len(hit_ids),
        channel_names=channel_names,
        truncated=truncated,
    )
