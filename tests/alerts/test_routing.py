"""Routing decisions: rule criteria, quiet hours, the update throttle, subscriptions, the sweep."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from alerts.models import Delivery, DispatchCursor, DispatchedEvent, EventType
from alerts.routing import CaseFacts, quiet_until, retry_delay, rule_matches
from alerts.selectors import case_facts
from alerts.services import (
    alert_events_dispatch,
    alert_rule_create,
    alerts_sweep,
    channel_create,
    channel_pause,
    channel_resume,
)
from core.errors import ApplicationError
from fraudcases import services as case_services

from .helpers import open_case

pytestmark = pytest.mark.django_db


def rule(**kw):
    base = {
        "min_risk_level": "high",
        "priorities": [],
        "reason_codes": [],
        "fired_rules": [],
        "min_amount": None,
        "queue": "",
    }
    return SimpleNamespace(**(base | kw))


def facts(**kw):
    base = {
        "case_id": 1,
        "risk_level": "high",
        "priority": "high",
        "reason_codes": frozenset({"velocity", "rule:big-foreign"}),
        "max_amount": Decimal("900.00"),
    }
    return CaseFacts(**(base | kw))


def test_risk_level_is_a_minimum():
    assert rule_matches(rule(min_risk_level="high"), facts(risk_level="critical"))
    assert rule_matches(rule(min_risk_level="high"), facts(risk_level="high"))
    assert not rule_matches(rule(min_risk_level="critical"), facts(risk_level="high"))
    assert not rule_matches(rule(min_risk_level="medium"), facts(risk_level="low"))


def test_priority_pattern_fired_rule_amount_and_queue_criteria():
    assert rule_matches(rule(priorities=["high", "critical"]), facts())
    assert not rule_matches(rule(priorities=["critical"]), facts())
    assert rule_matches(rule(reason_codes=["velocity", "new_country"]), facts())
    assert not rule_matches(rule(reason_codes=["new_country"]), facts())
    assert rule_matches(rule(fired_rules=["big-foreign"]), facts())
    assert not rule_matches(rule(fired_rules=["other"]), facts())
    assert rule_matches(rule(min_amount=Decimal("900.00")), facts())
    assert not rule_matches(rule(min_amount=Decimal("900.01")), facts())
    assert not rule_matches(rule(min_amount=Decimal("1")), facts(max_amount=None))
    assert not rule_matches(rule(queue="cards"), facts())
    assert rule_matches(rule(queue="cards"), facts(queue="cards"))
    # Every criterion must hold.
    assert not rule_matches(rule(reason_codes=["velocity"], priorities=["critical"]), facts())


def test_quiet_hours_within_a_day_and_across_midnight():
    paris = "Europe/Paris"  # UTC+1 in December
    at = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)  # 13:30 in Paris
    assert quiet_until(start=time(13), end=time(14), tz_name=paris, at=at) == datetime(
        2026, 12, 1, 13, 0, tzinfo=UTC
    )
    assert quiet_until(start=time(14), end=time(15), tz_name=paris, at=at) is None
    late = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert quiet_until(start=time(22), end=time(7), tz_name=paris, at=late) == datetime(
        2026, 12, 2, 6, 0, tzinfo=UTC
    )
    early = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    assert quiet_until(start=time(22), end=time(7), tz_name=paris, at=early) == datetime(
        2026, 12, 2, 6, 0, tzinfo=UTC
    )
    noon = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    assert quiet_until(start=time(22), end=time(7), tz_name=paris, at=noon) is None
    assert quiet_until(start=None, end=None, tz_name=paris, at=noon) is None


def test_retry_delay_is_exponential_capped_and_jittered():
    rng = random.Random(3)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (7, 300), (12, 300)]:
        samples = [retry_delay(attempt, base=10, cap=300, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len({round(s, 6) for s in samples}) > 100  # jittered, not one fixed value


def _deliveries(case):
    return list(Delivery.objects.filter(case=case).order_by("id"))


def test_a_burst_gives_one_alert_per_case_and_later_hits_are_batched(webhook):
    case, events = open_case("acct-burst")
    created = alert_events_dispatch(event_ids=[e.pk for e in events])
    assert len(created) == 1
    (opened,) = _deliveries(case)
    assert opened.event_type == EventType.OPENED and opened.status == Delivery.Status.PENDING
    assert opened.scheduled_for <= timezone.now()

    _, attach1 = open_case("acct-burst")
    _, attach2 = open_case("acct-burst")
    _, attach3 = open_case("acct-burst")
    alert_events_dispatch(event_ids=[e.pk for e in attach1 + attach2 + attach3])
    rows = _deliveries(case)
    assert [d.event_type for d in rows] == ["case.opened"] + ["case.updated"] * 3
    update, *batched = rows[1:]
    # The first update waits for the throttle window after the opening alert…
    assert update.status == Delivery.Status.PENDING
    assert update.scheduled_for == opened.scheduled_for + timedelta(minutes=10)
    assert "throttled" in update.schedule_reason
    # …and the later hits ride along in it.
    assert [b.status for b in batched] == [Delivery.Status.BATCHED] * 2
    assert {b.batched_into_id for b in batched} == {update.pk}

    # Routing the same events again changes nothing (one delivery per event and channel).
    assert alert_events_dispatch(event_ids=[e.pk for e in events + attach1 + attach2]) == []
    assert len(_deliveries(case)) == 4


def test_throttle_zero_sends_every_update(admin_user, webhook):
    from alerts.services import channel_update

    channel_update(actor=admin_user, channel=webhook, update_throttle_minutes=0)
    case, events = open_case("acct-nothrottle")
    _, more = open_case("acct-nothrottle")
    alert_events_dispatch(event_ids=[e.pk for e in events + more])
    assert [d.status for d in _deliveries(case)] == [Delivery.Status.PENDING] * 2
    assert all(d.schedule_reason == "" for d in _deliveries(case))


def test_rules_decide_which_cases_go_where(admin_user, receiver):
    everything = channel_create(
        actor=admin_user, name="all", kind="webhook", target=receiver.url, secret="s1"
    )
    critical = channel_create(
        actor=admin_user,
        name="crit",
        kind="slack",
        target="#fraud-critical",
        secret=f"{receiver.url}/slack",
    )
    velocity_big = channel_create(
        actor=admin_user, name="vel", kind="email", target="team@example.test"
    )
    alert_rule_create(actor=admin_user, name="all", channels=[everything], min_risk_level="low")
    alert_rule_create(actor=admin_user, name="crit", channels=[critical], min_risk_level="critical")
    alert_rule_create(
        actor=admin_user,
        name="velocity over 1000",
        channels=[velocity_big],
        min_risk_level="high",
        reason_codes=["velocity"],
        min_amount="1000",
    )
    high, e1 = open_case("acct-a", level="high", score=80, amount="50")
    crit, e2 = open_case("acct-b", level="critical", score=97, amount="5000")
    alert_events_dispatch(event_ids=[e.pk for e in e1 + e2])
    assert {d.channel.name for d in _deliveries(high)} == {"all"}
    assert {d.channel.name for d in _deliveries(crit)} == {"all", "crit", "vel"}


def test_quiet_hours_hold_non_critical_cases_and_critical_overrides(admin_user, receiver):
    now = timezone.now()
    start = (now - timedelta(hours=1)).time().replace(microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    quiet = channel_create(
        actor=admin_user,
        name="night",
        kind="email",
        target="oncall@example.test",
        quiet_start=start,
        quiet_end=end,
        quiet_timezone="UTC",
        critical_overrides_quiet=True,
    )
    strict = channel_create(
        actor=admin_user,
        name="strict",
        kind="email",
        target="oncall@example.test",
        quiet_start=start,
        quiet_end=end,
        critical_overrides_quiet=False,
    )
    alert_rule_create(actor=admin_user, name="r", channels=[quiet, strict], min_risk_level="high")
    high, e1 = open_case("acct-q1", level="high")
    crit, e2 = open_case("acct-q2", level="critical", score=95)
    alert_events_dispatch(event_ids=[e.pk for e in e1 + e2])
    by = {(d.case_id, d.channel.name): d for d in Delivery.objects.all()}
    held = by[(high.pk, "night")]
    assert held.scheduled_for > now and "quiet hours" in held.schedule_reason
    assert held.scheduled_for.time().replace(tzinfo=None) == end
    assert by[(crit.pk, "night")].scheduled_for <= timezone.now()  # critical passes
    assert "quiet hours" in by[(crit.pk, "strict")].schedule_reason  # unless switched off


def test_channels_receive_only_the_events_they_subscribe_to(admin_user, supervisor, receiver):
    closures = channel_create(
        actor=admin_user,
        name="closures",
        kind="webhook",
        target=receiver.url,
        secret="s",
        events=["case.closed", "case.closure_approved", "case.reopened", "case.escalated"],
    )
    alert_rule_create(actor=admin_user, name="any", channels=[closures], min_risk_level="low")
    case, _ = open_case("acct-sub", score=75)
    case_services.case_escalate(case=case, actor=supervisor, reason="Looks like a mule")
    case_services.case_close(
        case=case, actor=supervisor, disposition="fraud_confirmed", note="Card blocked"
    )
    case_services.case_reopen(case=case, actor=supervisor, reason="Customer disputes")
    from core.models import AuditEvent

    ids = list(AuditEvent.objects.filter(case=case).values_list("id", flat=True))
    alert_events_dispatch(event_ids=ids)
    assert [d.event_type for d in _deliveries(case)] == [
        "case.escalated",
        "case.closed",
        "case.reopened",
    ]
    assert len(ids) > 3  # the case.open (and note/assign) events went nowhere


def test_paused_channel_holds_deliveries_until_resumed(admin_user, webhook):
    channel_pause(actor=admin_user, channel=webhook, reason="receiver maintenance")
    case, events = open_case("acct-paused")
    alert_events_dispatch(event_ids=[e.pk for e in events])
    (held,) = _deliveries(case)
    assert held.status == Delivery.Status.HELD and "maintenance" in held.schedule_reason
    assert channel_resume(actor=admin_user, channel=webhook) == 1
    held.refresh_from_db()
    assert held.status == Delivery.Status.PENDING


def test_sweep_routes_events_the_on_commit_path_missed(webhook, settings):
    settings.ALERTS_SWEEP_GRACE_SECONDS = 0
    case, events = open_case("acct-missed")
    assert not Delivery.objects.exists()  # no worker ran the on-commit task
    result = alerts_sweep()
    assert result["routed"] == 1
    assert _deliveries(case)[0].event_type == EventType.OPENED
    assert DispatchCursor.objects.get().last_event_id == events[-1].pk
    assert DispatchedEvent.objects.filter(event__in=events).count() == len(events)
    # A second sweep finds nothing new; the delivery is due and unclaimed, so it is re-enqueued.
    again = alerts_sweep()
    assert again["routed"] == 0 and again["requeued"] == 1


def test_a_rule_names_an_existing_case_queue_and_matches_its_cases(admin_user, webhook):
    with pytest.raises(ApplicationError) as refused:
        alert_rule_create(actor=admin_user, name="q", channels=[webhook], queue="no-such-queue")
    assert "queue" in refused.value.extra
    case, _ = open_case("acct-queue-1")
    assert case.queue_id is not None  # routing put it in a queue (General when nothing matches)
    rule = alert_rule_create(
        actor=admin_user, name="q", channels=[webhook], queue=case.queue.name, min_risk_level="low"
    )
    facts = case_facts(case_ids=[case.pk])[case.pk]
    assert facts.queue == case.queue.name and rule_matches(rule, facts)
    assert not rule_matches(rule, CaseFacts(**{**facts.__dict__, "queue": "another"}))


def test_rule_and_channel_changes_need_the_admin_role(supervisor, receiver):
    from core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        channel_create(actor=supervisor, name="x", kind="webhook", target=receiver.url, secret="s")


def test_default_webhook_channel_from_the_environment(settings, monkeypatch):
    from alerts.models import AlertRule, Channel
    from core.models import AuditEvent

    monkeypatch.setenv("ALERTS_WEBHOOK_SECRET", "env-secret")
    settings.ALERTS_WEBHOOK_URL = "https://core-banking.example/hooks/fraud"
    alerts_sweep()
    channel = Channel.objects.get(name="default-webhook")
    assert channel.kind == "webhook" and channel.secret_env == "ALERTS_WEBHOOK_SECRET"
    assert not channel.secret_encrypted  # referenced, never copied
    assert set(channel.events) == {e.value for e in EventType if e != EventType.TEST}
    assert AlertRule.objects.get(channels=channel).min_risk_level == "high"
    created = AuditEvent.objects.get(action="alerts.channel_create")
    assert created.actor_label == "system:alerts"

    settings.ALERTS_WEBHOOK_URL = "https://core-banking.example/hooks/v2"
    alerts_sweep()
    alerts_sweep()
    assert Channel.objects.get(pk=channel.pk).target.endswith("/v2")
    assert Channel.objects.count() == 1
    assert AuditEvent.objects.filter(action="alerts.channel_update").count() == 1


def test_history_skip_keeps_seeded_history_quiet_and_routes_what_follows(
    admin_user, webhook, settings
):
    from alerts.services.dispatch import alerts_history_skip
    from core.models import AuditEvent

    settings.ALERTS_SWEEP_GRACE_SECONDS = 0
    old, _ = open_case("acct-history")
    assert alerts_history_skip(actor=admin_user, reason="seeded history") >= 1
    skip = AuditEvent.objects.get(action="alerts.history_skip")
    assert skip.note == "seeded history" and skip.actor == admin_user
    assert alerts_sweep()["routed"] == 0
    assert not _deliveries(old)
    # Nothing new to skip: no second audit event (seeding twice changes nothing).
    assert alerts_history_skip(actor=admin_user, reason="again") == 0
    assert AuditEvent.objects.filter(action="alerts.history_skip").count() == 1
    new, _ = open_case("acct-live")
    assert alerts_sweep()["routed"] == 1
    assert _deliveries(new)[0].event_type == EventType.OPENED
