"""Auto-assignment: round-robin fairness, least-loaded, the per-person cap (the rest waits in the
queue until the beat task finds room), off-duty and absent people skipped, and every assignment
audited with why."""

from __future__ import annotations

from collections import Counter

import pytest

from core.errors import PermissionDeniedError
from core.models import AuditEvent
from fraudcases import services, tasks
from fraudcases.models import Case, InvestigatorDuty
from fraudcases.services.routing import SYSTEM_ROUTER, cases_assign_waiting, duty_update
from tests.cases.routing_helpers import member, open_cases, open_many, person, queue, risky
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(roles):
    return {name: person(f"rt-{name}") for name in ("ann", "bob", "cat")}


def _queue(mode: str, cap: int = 1000, **fields):
    return queue(
        "Auto",
        10,
        {"reason_codes": ["velocity"]},
        assign_mode=mode,
        max_open_per_person=cap,
        **fields,
    )


def _counts(cases) -> Counter:
    return Counter(c.assignee.username for c in cases if c.assignee_id)


def test_round_robin_is_fair_over_100_cases(team):
    q = _queue("round_robin")
    member(q, *team.values())
    cases = open_many(100, batch=7)  # the turn carries over from one batch to the next
    counts = _counts(cases)
    assert sum(counts.values()) == 100
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    events = AuditEvent.objects.filter(action="case.auto_assign")
    assert events.count() == 100
    assert {e.actor_label for e in events} == {SYSTEM_ROUTER}


def test_the_assignment_is_audited_with_why(team):
    q = _queue("round_robin", cap=5)
    member(q, team["ann"])
    (case,) = open_cases(risky())
    assert case.assignee == team["ann"] and case.status == Case.Status.NEW
    event = AuditEvent.objects.get(case=case, action="case.auto_assign")
    assert event.before["assignee"] is None and event.after["assignee"] == "rt-ann"
    expected = {"queue": "Auto", "mode": "round_robin", "load": 0, "cap": 5, "eligible": 1}
    assert {k: event.after[k] for k in expected} == expected
    assert event.note == (
        "Auto-assigned by queue 'Auto' (round-robin): rt-ann held 0 of at most 5 open cases "
        "(1 eligible member(s) on duty)."
    )
    opened = AuditEvent.objects.get(case=case, action="case.open")
    assert opened.id < event.id and opened.after["queue"] == "Auto"


def test_least_loaded_first_ties_in_turn(team):
    q = _queue("least_loaded")
    member(q, *team.values())
    # ann already holds three open cases, cat one (outside the queue: every open case counts).
    for _ in range(3):
        CaseFactory(assignee=team["ann"])
    CaseFactory(assignee=team["cat"])
    CaseFactory(assignee=team["bob"], status=Case.Status.CLOSED, disposition="legitimate")
    cases = open_cases(*(risky() for _ in range(4)))
    assert [c.assignee.username for c in cases] == ["rt-bob", "rt-cat", "rt-bob", "rt-cat"]
    loads = [AuditEvent.objects.get(case=c, action="case.auto_assign").after["load"] for c in cases]
    assert loads == [0, 1, 1, 2]
    assert not Case.objects.filter(pk__in=[c.pk for c in cases], assignee=team["ann"]).exists()


def test_over_everyones_cap_cases_wait_in_the_queue_until_someone_has_room(team):
    q = _queue("round_robin", cap=2)
    member(q, team["ann"], team["bob"])
    cases = open_many(5, batch=5)
    assert _counts(cases) == {"rt-ann": 2, "rt-bob": 2}
    (waiting,) = [c for c in cases if c.assignee_id is None]
    assert waiting.queue == q and waiting.status == Case.Status.NEW
    assert not AuditEvent.objects.filter(case=waiting, action="case.auto_assign").exists()
    # Nobody has room: the beat task hands out nothing.
    assert tasks.assign_waiting_cases() == 0
    # bob closes one of his: the next run gives him the waiting case.
    bobs = next(c for c in cases if c.assignee == team["bob"])
    services.case_close(case=bobs, actor=team["bob"], disposition="legitimate", note="ok")
    assert tasks.assign_waiting_cases() == 1
    waiting.refresh_from_db()
    assert waiting.assignee == team["bob"]
    event = AuditEvent.objects.get(case=waiting, action="case.auto_assign")
    assert event.after["load"] == 1 and event.after["cap"] == 2
    assert cases_assign_waiting() == []  # idempotent


def test_off_duty_and_absent_people_are_skipped(team, make_user):
    sup = make_user("supervisor", "rt-sup")
    q = _queue("round_robin")
    member(q, *team.values())
    duty_update(actor=team["ann"], user=team["ann"], off_duty=True, note="lunch")
    duty_update(actor=sup, user=team["bob"], absent=True, note="on leave")
    cases = open_many(6, batch=3)
    assert _counts(cases) == {"rt-cat": 6}
    duty_update(actor=team["ann"], user=team["ann"], off_duty=False)
    assert _counts(open_many(2, batch=2)) == {"rt-ann": 1, "rt-cat": 1}


def test_people_without_a_case_working_role_or_inactive_get_nothing(team, make_user):
    q = _queue("round_robin")
    auditor = make_user("auditor", "rt-auditor")
    member(q, auditor, team["ann"], team["bob"])
    team["bob"].is_active = False
    team["bob"].save(update_fields=["is_active"])
    assert _counts(open_many(3, batch=3)) == {"rt-ann": 3}


def test_a_queue_without_auto_assignment_leaves_cases_unassigned(team):
    q = _queue("off")
    member(q, *team.values())
    cases = open_many(3, batch=3)
    assert all(c.queue == q and c.assignee_id is None for c in cases)
    assert tasks.assign_waiting_cases() == 0


def test_duty_flags_who_may_set_them_and_the_audit(team, make_user):
    sup = make_user("supervisor", "rt-sup2")
    admin = make_user("admin", "rt-admin")
    with pytest.raises(PermissionDeniedError):
        duty_update(actor=team["ann"], user=team["bob"], off_duty=True)
    with pytest.raises(PermissionDeniedError, match="absence"):
        duty_update(actor=team["ann"], user=team["ann"], absent=True)
    assert not InvestigatorDuty.objects.exists()
    duty_update(actor=team["ann"], user=team["ann"], off_duty=True, note="training")
    duty_update(actor=sup, user=team["ann"], absent=True)
    duty = duty_update(actor=admin, user=team["ann"], off_duty=False, absent=False)
    assert duty.on_duty
    events = list(AuditEvent.objects.filter(action="duty.update").order_by("id"))
    assert [e.actor_label for e in events] == ["user:rt-ann", "user:rt-sup2", "user:rt-admin"]
    assert events[0].before is None
    assert events[0].after == {
        "off_duty": True,
        "absent": False,
        "note": "training",
        "user": "rt-ann",
    }
    assert events[1].before == {"off_duty": True, "absent": False, "note": "training"}
    assert events[1].note == "rt-ann is absent."
