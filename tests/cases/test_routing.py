"""Routing: a new case lands in the first matching queue (by position), else the default queue;
criteria are validated; routing costs a constant number of queries per scoring batch; the SLA
clock pauses while snoozed as the case's queue says."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case, CaseQueue
from fraudcases.queue_criteria import (
    CaseFacts,
    criteria_errors,
    criteria_match,
    validate_queue_criteria,
)
from fraudcases.services.routing import routing_demo_setup
from fraudcases.services.snooze import case_snooze, case_wake
from scoring.models import Transaction
from tests.cases.routing_helpers import default_queue, member, open_cases, queue, risky

pytestmark = pytest.mark.django_db


@pytest.fixture
def queues():
    return {
        "ato": queue("Account takeover", 10, {"reason_codes": ["new_device", "new_country"]}),
        "high": queue("High value", 20, {"amount_min": "5000"}),
        "card": queue("Card fraud", 30, {"channel": ["card_present", "pos"], "risk_min": 70}),
    }


def _open_event(case: Case) -> AuditEvent:
    return AuditEvent.objects.get(case=case, action="case.open")


def test_each_new_case_lands_in_the_first_matching_queue(queues):
    ato_and_high = risky(codes=("new_device", "velocity"), amount="9000.00")
    high = risky(codes=("velocity",), amount="9000.00")
    card = risky(codes=("velocity",), channel="pos")
    rest = risky(codes=("velocity",), channel="web")
    cases = open_cases(ato_and_high, high, card, rest)
    by_account = {c.account_id: c for c in cases}
    # Position decides: the account-takeover queue comes before high value.
    assert by_account[ato_and_high.account_id].queue == queues["ato"]
    assert by_account[high.account_id].queue == queues["high"]
    assert by_account[card.account_id].queue == queues["card"]
    assert by_account[rest.account_id].queue == default_queue()
    event = _open_event(by_account[ato_and_high.account_id])
    assert event.after["queue"] == "Account takeover"
    assert "reason_codes: new_device, new_country" in event.after["routed"]
    rest_event = _open_event(by_account[rest.account_id])
    assert rest_event.after["queue"] == "General"
    assert "default queue" in rest_event.after["routed"]


def test_reason_codes_match_on_any_transaction_and_rule_codes(queues):
    rules = queue("Rule hits", 5, {"reason_codes": ["rule:big-amount"]})
    hit = risky(codes=("velocity",))
    second = risky(codes=("rule:big-amount",))
    # Two transactions of one account: the rule fired on the second only.
    hit.transaction_ids += second.transaction_ids
    Transaction.objects.filter(pk__in=second.transaction_ids).update(account_id=hit.account_id)
    (case,) = open_cases(hit)
    assert case.queue == rules


def test_inactive_queues_are_skipped_and_priority_criteria_apply(queues):
    queues["ato"].active = False
    queues["ato"].save()
    critical = queue("Critical", 15, {"priority": ["critical"]})
    ato = risky(codes=("new_device",))
    crit = risky(codes=("velocity",), risk=97.0, level="critical")
    by_account = {c.account_id: c for c in open_cases(ato, crit)}
    assert by_account[ato.account_id].queue == default_queue()
    assert by_account[crit.account_id].queue == critical


def test_without_any_queue_a_case_opens_without_one(queues):
    Case.objects.update(queue=None)
    CaseQueue.objects.all().delete()
    (case,) = open_cases(risky())
    assert case.queue is None
    assert "no default queue" in _open_event(case).after["routed"]


def test_attaching_to_an_open_case_keeps_its_queue(queues):
    (case,) = open_cases(risky(codes=("velocity",)))
    assert case.queue == default_queue()
    more = risky(codes=("new_device",))
    more.account_id = case.account_id
    Transaction.objects.filter(pk__in=more.transaction_ids).update(account_id=case.account_id)
    open_cases(more)
    case.refresh_from_db()
    assert case.queue == default_queue()


def _routing_queries(n: int) -> int:
    hits = [risky(codes=("new_device",) if i % 2 else ("velocity",)) for i in range(n)]
    with CaptureQueriesContext(connection) as ctx:
        services.cases_open_or_attach(hits=hits)
    return sum(
        1
        for q in ctx.captured_queries
        if "casequeue" in q["sql"] or "queuemembership" in q["sql"] or '"reasons"' in q["sql"]
    )


def test_routing_costs_a_constant_number_of_queries_per_batch(queues, make_user):
    inv = make_user("investigator", "rq-inv")
    queues["ato"].assign_mode = "round_robin"
    queues["ato"].save()
    member(queues["ato"], inv)
    small, large = _routing_queries(3), _routing_queries(30)
    assert small == large
    # Queues (read; lock on PostgreSQL), members, the amounts-and-facts query, one cursor
    # update per queue used.
    assert 4 <= large <= 6


# --- criteria ---------------------------------------------------------------------------------


def test_criteria_errors_name_every_problem():
    errors = criteria_errors(
        {
            "priority": ["urgent"],
            "reason_codes": ["velocity", "nope"],
            "risk_min": 90,
            "risk_max": 50,
            "amount_min": "lots",
            "country": ["usa"],
            "colour": "red",
        }
    )
    text = "\n".join(errors)
    assert "colour: unknown key" in text
    assert "priority: 'urgent' is not one of" in text
    assert "reason_codes: unknown code 'nope'" in text
    assert "risk_max: must be at least risk_min" in text
    assert "amount_min: must be an amount" in text
    assert "country: 'usa' is not an ISO 3166" in text
    assert criteria_errors([]) and criteria_errors({"channel": []})
    assert criteria_errors({}) == []
    with pytest.raises(ValidationError):
        validate_queue_criteria({"risk_min": 101})


def test_criteria_match_is_and_over_keys_or_within_a_list():
    facts = CaseFacts(
        priority="high",
        risk_level="high",
        risk_score=88.5,
        amount=Decimal("6000"),
        reason_codes=frozenset({"velocity"}),
        channel=frozenset({"web"}),
    )
    assert criteria_match({}, facts)
    assert criteria_match({"priority": ["high", "critical"], "risk_min": 88.5}, facts)
    assert not criteria_match({"priority": ["high"], "risk_min": 89}, facts)
    assert criteria_match({"amount_min": "6000", "amount_max": 6000}, facts)
    assert not criteria_match({"amount_max": "5999.99"}, facts)
    assert criteria_match({"reason_codes": ["new_device", "velocity"]}, facts)
    assert not criteria_match({"channel": ["pos"]}, facts)
    assert not criteria_match({"country": ["GB"]}, facts)


# --- SLA while snoozed, per queue -------------------------------------------------------------


def _snoozed_overdue(q, inv) -> Case:
    (case,) = open_cases(risky())
    Case.objects.filter(pk=case.pk).update(queue=q)
    case.refresh_from_db()
    case_snooze(case=case, actor=inv, until=timezone.now() + timedelta(days=1), reason="customer")
    Case.objects.filter(pk=case.pk).update(
        due_at=timezone.now() - timedelta(hours=1), snoozed_at=timezone.now() - timedelta(hours=2)
    )
    return Case.objects.select_related("queue").get(pk=case.pk)


def test_the_sla_clock_pauses_while_snoozed_as_the_queue_says(make_user):
    inv = make_user("investigator", "sla-inv")
    pausing = queue("Pausing", 10, {"risk_min": 100})
    running = queue("Running", 11, {"risk_min": 100}, snooze_pauses_sla=False)
    paused_case = _snoozed_overdue(pausing, inv)
    running_case = _snoozed_overdue(running, inv)
    assert paused_case.sla_state == "paused"
    assert running_case.sla_state == "breached"
    escalated = {c.pk for c in services.cases_escalate_overdue()}
    assert running_case.pk in escalated and paused_case.pk not in escalated
    # Waking adds the snoozed time to the due time only where the clock was paused.
    due = paused_case.due_at
    woken = case_wake(case=paused_case, actor=inv)
    assert woken.due_at - due >= timedelta(hours=2)
    event = AuditEvent.objects.filter(case=paused_case, action="case.wake").get()
    assert event.after["sla_paused_seconds"] >= 7200


def test_a_case_without_a_queue_follows_the_deployment_setting(make_user, settings):
    inv = make_user("investigator", "sla-inv2")
    settings.CASE_SNOOZE_PAUSES_SLA = False
    (case,) = open_cases(risky())
    Case.objects.filter(pk=case.pk).update(queue=None)
    case.refresh_from_db()
    case_snooze(case=case, actor=inv, until=timezone.now() + timedelta(days=1), reason="waiting")
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    case = Case.objects.get(pk=case.pk)
    assert case.sla_state == "breached"
    assert case.pk in {c.pk for c in services.cases_escalate_overdue()}


def test_the_demo_queues_are_created_once_through_the_audited_services(make_user):
    admin = make_user("admin", "demo-admin")
    inv = make_user("investigator", "demo-inv")
    created = routing_demo_setup(actor=admin, members=[inv])
    names = list(CaseQueue.objects.values_list("name", flat=True))
    assert names == ["High value", "Account takeover", "Card fraud", "General"]
    assert len(created) == 3 + 4
    assert AuditEvent.objects.filter(action="queue.create").count() == 3
    assert AuditEvent.objects.filter(action="queue.member_add").count() == 4
    assert routing_demo_setup(actor=admin, members=[inv]) == []
