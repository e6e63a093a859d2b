"""Routing on the pages, the API and the admin: ``/cases/next/`` by membership and queue order,
the queue filter, the queue on the case page and API, the duty page, queues / memberships /
duty in the Django admin (audited, bad definitions are form errors), and the two findings of
issue 14 (the admin's Rules link; the admin role and ``/cases/next/``)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case, CaseQueue, InvestigatorDuty, QueueMembership
from fraudcases.routing_selectors import claimable_cases
from tests.cases.routing_helpers import default_queue, member, open_cases, queue, risky
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def crew(make_user):
    roles = {"inv": "investigator", "inv2": "investigator", "sup": "supervisor"}
    roles |= {"admin": "admin", "auditor": "auditor"}
    return {key: make_user(role, f"rp-{key}") for key, role in roles.items()}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def queues():
    ato = queue("Account takeover", 10, {"reason_codes": ["new_device"]})
    high = queue("High value", 20, {"amount_min": "5000"})
    return {"ato": ato, "high": high, "general": default_queue()}


def _case_in(q: CaseQueue, **fields) -> Case:
    return CaseFactory(queue=q, **fields)


# --- /cases/next/ -----------------------------------------------------------------------------


def test_next_offers_only_the_members_queues_in_queue_order(crew, queues):
    general_critical = _case_in(queues["general"], priority="critical")
    high_critical = _case_in(queues["high"], priority="critical")
    ato_medium = _case_in(queues["ato"], priority="medium")
    member(queues["ato"], crew["inv"])
    member(queues["high"], crew["inv"])
    # Queue order first (account takeover before high value), then priority.
    assert services.case_claim_next(actor=crew["inv"]).pk == ato_medium.pk
    assert services.case_claim_next(actor=crew["inv"]).pk == high_critical.pk
    # The general queue is not theirs.
    assert services.case_claim_next(actor=crew["inv"]) is None
    general_critical.refresh_from_db()
    assert general_critical.assignee is None
    # Someone in no queue is offered every queue's cases.
    assert services.case_claim_next(actor=crew["inv2"]).pk == general_critical.pk


def test_a_member_of_the_default_queue_also_gets_cases_without_a_queue(crew, queues):
    legacy = CaseFactory(queue=None)
    member(queues["general"], crew["inv"])
    assert list(claimable_cases(user=crew["inv"])) == [legacy]
    assert not claimable_cases(user=crew["auditor"]).exists()


def test_next_page_takes_an_auto_assigned_case_first(crew, queues):
    auto = queue("Auto", 5, {"reason_codes": ["velocity"]}, assign_mode="round_robin")
    member(auto, crew["inv"])
    _case_in(auto, priority="critical")  # unassigned
    (mine,) = open_cases(risky(codes=("velocity",), risk=72.0))
    assert mine.assignee == crew["inv"] and mine.queue == auto
    client = _client(crew["inv"])
    page = client.get("/cases/next/").content.decode()
    assert "1 new case assigned to you" in page and "1 unassigned new case waiting" in page
    assert "Your queues: Auto (1)" in page
    response = client.post("/cases/next/")
    assert response.status_code == 302 and response["Location"] == f"/cases/{mine.pk}/"
    mine.refresh_from_db()
    assert mine.status == Case.Status.IN_REVIEW
    assert AuditEvent.objects.filter(case=mine, action="case.claim").exists()


# --- queue filter, case page, API -------------------------------------------------------------


def test_the_queue_page_and_api_filter_by_queue_and_show_it(crew, queues):
    ato = _case_in(queues["ato"])
    high = _case_in(queues["high"])
    client = _client(crew["inv"])
    page = client.get(f"/cases/?queue={queues['ato'].pk}")
    assert [c.pk for c in page.context["page"]] == [ato.pk]
    assert "Account takeover" in page.content.decode()
    bad = client.get("/cases/?queue=999999")
    assert "Not applied" in bad.content.decode() and 'data-field="queue"' in bad.content.decode()
    detail = client.get(f"/cases/{high.pk}/").content.decode()
    assert '<dd id="case-queue">High value</dd>' in detail
    api = APIClient()
    api.force_authenticate(crew["inv"])
    listed = api.get(f"/api/v1/cases?queue={queues['high'].pk}").json()
    assert [c["id"] for c in listed["results"]] == [high.pk]
    assert listed["results"][0]["queue"] == "High value"
    assert api.get(f"/api/v1/cases/{ato.pk}").json()["queue"] == "Account takeover"
    refused = api.get("/api/v1/cases?queue=nope")
    assert refused.status_code == 400 and "queue" in refused.json()["errors"]


# --- the duty page ----------------------------------------------------------------------------


def test_the_duty_page_sets_ones_own_off_duty_flag(crew, queues):
    member(queues["ato"], crew["inv"])
    client = _client(crew["inv"])
    page = client.get("/cases/duty/").content.decode()
    assert "You are <strong>on duty</strong>" in page and "Account takeover" in page
    response = client.post("/cases/duty/", {"off_duty": "1", "note": "training"}, follow=True)
    assert "You are off duty now." in response.content.decode()
    duty = InvestigatorDuty.objects.get(user=crew["inv"])
    assert duty.off_duty and duty.note == "training" and duty.updated_by == crew["inv"]
    event = AuditEvent.objects.get(action="duty.update")
    assert event.actor == crew["inv"] and event.after["off_duty"] is True
    assert client.post("/cases/duty/", {"off_duty": "maybe"}).status_code == 400
    assert _client(crew["auditor"]).get("/cases/duty/").status_code == 403


# --- the admin --------------------------------------------------------------------------------


def _queue_form(**changes) -> dict:
    return {
        "name": "Card fraud",
        "description": "",
        "position": "30",
        "active": "on",
        "criteria": json.dumps({"channel": ["pos"], "reason_codes": ["velocity"]}),
        "assign_mode": "least_loaded",
        "max_open_per_person": "8",
        "snooze_pauses_sla": "on",
    } | changes


def test_admins_define_queues_in_the_admin_audited(crew, queues):
    client = _client(crew["admin"])
    response = client.post("/admin/fraudcases/casequeue/add/", _queue_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    card = CaseQueue.objects.get(name="Card fraud")
    assert card.criteria == {"channel": ["pos"], "reason_codes": ["velocity"]}
    created = AuditEvent.objects.get(action="queue.create")
    assert created.actor == crew["admin"] and created.after["assign_mode"] == "least_loaded"
    client.post(f"/admin/fraudcases/casequeue/{card.pk}/change/", _queue_form(position="3"))
    updated = AuditEvent.objects.get(action="queue.update")
    assert updated.before["position"] == 30 and updated.after["position"] == 3
    # The new definition routes the next case.
    (case,) = open_cases(risky(codes=("velocity",), channel="pos"))
    assert case.queue == card


def test_a_bad_queue_definition_is_a_form_error(crew, queues):
    client = _client(crew["admin"])
    bad = _queue_form(criteria=json.dumps({"reason_codes": ["nope"], "risk_min": 120}))
    response = client.post("/admin/fraudcases/casequeue/add/", bad)
    body = response.content.decode()
    assert response.status_code == 200
    assert "reason_codes: unknown code" in body and "risk_min: must be a number" in body
    second_default = _queue_form(name="Other default", is_default="on", criteria="{}")
    body = client.post("/admin/fraudcases/casequeue/add/", second_default).content.decode()
    assert "General" in body and "is the default queue" in body
    assert not CaseQueue.objects.filter(name__in=["Card fraud", "Other default"]).exists()
    assert not AuditEvent.objects.filter(action__startswith="queue.").exists()
    # Investigators read queues; they do not change them.
    refused = _client(crew["inv"]).post("/admin/fraudcases/casequeue/add/", _queue_form())
    assert refused.status_code == 403


def test_supervisors_manage_memberships_in_the_admin_audited(crew, queues):
    client = _client(crew["sup"])
    url = "/admin/fraudcases/queuemembership/add/"
    response = client.post(url, {"queue": queues["ato"].pk, "user": crew["inv"].pk})
    assert response.status_code == 302
    membership = QueueMembership.objects.get(queue=queues["ato"], user=crew["inv"])
    assert membership.added_by == crew["sup"]
    added = AuditEvent.objects.get(action="queue.member_add")
    assert added.after == {"queue": "Account takeover", "user": crew["inv"].username}
    # An auditor does not work cases: not offered, a form error.
    body = client.post(url, {"queue": queues["ato"].pk, "user": crew["auditor"].pk})
    assert body.status_code == 200 and "Select a valid choice" in body.content.decode()
    delete = f"/admin/fraudcases/queuemembership/{membership.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not QueueMembership.objects.exists()
    removed = AuditEvent.objects.get(action="queue.member_remove")
    assert removed.before == {"queue": "Account takeover", "user": crew["inv"].username}


def test_supervisors_record_absence_in_the_admin(crew):
    client = _client(crew["sup"])
    response = client.post(
        "/admin/fraudcases/investigatorduty/add/",
        {"user": crew["inv"].pk, "absent": "on", "note": "sick"},
    )
    assert response.status_code == 302
    assert InvestigatorDuty.objects.get(user=crew["inv"]).absent
    assert AuditEvent.objects.get(action="duty.update").actor == crew["sup"]


# --- issue 14 findings ------------------------------------------------------------------------


def test_the_admins_menu_links_the_rules_page(crew):
    admin_page = _client(crew["admin"]).get("/cases/").content.decode()
    assert '<a href="/rules/"' in admin_page and ">Rules</a>" in admin_page
    assert ">Rules</a>" not in _client(crew["inv"]).get("/cases/").content.decode()


def test_admins_do_not_work_cases_so_next_case_is_not_offered_to_them(crew):
    """README: "Admins do not work cases" (the role table lists no /cases/next/ for them): the
    page is 403 and neither the menu nor the queue offers it."""
    client = _client(crew["admin"])
    assert client.get("/cases/next/").status_code == 403
    page = client.get("/cases/").content.decode()
    assert 'href="/cases/next/"' not in page and 'id="take-next"' not in page
