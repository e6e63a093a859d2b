"""The /alerts/ page: who sees it, forms over the audited services (CSRF), the rule preview,
delivery filters, resend, and secrets never shown back (page or admin)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from alerts.models import AlertRule, Channel, Delivery
from alerts.services import alert_events_dispatch, channel_create
from core.models import AuditEvent
from tests.factories import CaseFactory

from .helpers import open_case, run_until_final

pytestmark = pytest.mark.django_db
SECRET = "whsec-page-test-do-not-show"


def client_for(user, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def csrf_post(client: Client, page: str, url: str, data: dict):
    """POST like a browser: read the form page first, send its CSRF token back."""
    html = client.get(page).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


def test_only_supervisors_and_admins_see_the_page(make_user, supervisor, admin_user):
    assert client_for(supervisor).get("/alerts/").status_code == 200
    assert client_for(admin_user).get("/alerts/").status_code == 200
    others = {role: make_user(role) for role in ("investigator", "auditor")}
    for user in others.values():
        assert client_for(user).get("/alerts/").status_code == 403
    assert Client().get("/alerts/").status_code == 302
    assert 'href="/alerts/"' in client_for(supervisor).get("/cases/").content.decode()
    assert 'href="/alerts/"' not in client_for(others["auditor"]).get("/cases/").content.decode()


def test_admin_creates_a_channel_through_the_form_and_it_is_audited(admin_user, receiver):
    client = client_for(admin_user, csrf=True)
    assert client.post("/alerts/channels/new/", {"name": "x"}).status_code == 403  # no token
    response = csrf_post(
        client,
        "/alerts/channels/new/",
        "/alerts/channels/new/",
        {
            "name": "core-banking",
            "kind": "webhook",
            "target": f"{receiver.url}/hook",
            "secret": SECRET,
            "events": ["case.closed", "case.closure_approved"],
            "is_active": "on",
            "quiet_timezone": "UTC",
            "critical_overrides_quiet": "on",
            "update_throttle_minutes": "10",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get(name="core-banking")
    assert channel.events == ["case.closed", "case.closure_approved"]
    event = AuditEvent.objects.get(action="alerts.channel_create")
    assert event.actor_label == "user:alerts-admin" and SECRET not in str(event.after)

    edit = client.get(f"/alerts/channels/{channel.pk}/").content.decode()
    home = client.get("/alerts/").content.decode()
    admin_page = client.get(f"/admin/alerts/channel/{channel.pk}/change/")
    assert admin_page.status_code == 200
    for html in (edit, home, admin_page.content.decode()):
        assert SECRET not in html and channel.secret_encrypted not in html
    assert "stored encrypted" in edit


def test_bad_input_is_a_form_error_and_stores_nothing(admin_user):
    response = client_for(admin_user).post(
        "/alerts/channels/new/",
        {
            "name": "broken",
            "kind": "webhook",
            "target": "ftp://example.test/x",
            "events": ["case.opened"],
            "quiet_timezone": "Mars/Olympus",
            "update_throttle_minutes": "5",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "must be an http(s) URL" in html
    assert not Channel.objects.filter(name="broken").exists()
    assert not AuditEvent.objects.filter(action="alerts.channel_create").exists()


def test_supervisors_cannot_change_channels_or_rules(supervisor, webhook):
    client = client_for(supervisor)
    assert client.get("/alerts/channels/new/").status_code == 403
    assert client.post(f"/alerts/channels/{webhook.pk}/pause/", {"reason": "x"}).status_code == 403
    assert client.get("/alerts/rules/new/").status_code == 403


def test_rule_preview_counts_the_last_days_cases(admin_user):
    slack = channel_create(
        actor=admin_user,
        name="slack-crit",
        kind="slack",
        target="#fraud-critical",
        secret="http://127.0.0.1:9/slack",
    )
    for _ in range(3):
        CaseFactory(priority="critical", risk_level="critical", risk_score=95)
    CaseFactory(priority="high", risk_level="high")
    response = client_for(admin_user).post(
        "/alerts/rules/new/",
        {
            "name": "critical only",
            "channels": [slack.pk],
            "min_risk_level": "critical",
            "is_active": "on",
            "preview": "1",
        },
    )
    assert response.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))
    assert "3 cases from the last day would have gone to #fraud-critical" in text
    assert not AlertRule.objects.exists()  # a preview saves nothing


def test_rule_form_saves_through_the_service(admin_user, webhook):
    response = client_for(admin_user).post(
        "/alerts/rules/new/",
        {
            "name": "velocity",
            "channels": [webhook.pk],
            "min_risk_level": "high",
            "reason_codes": ["velocity"],
            "min_amount": "500",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get(name="velocity")
    assert rule.reason_codes == ["velocity"] and str(rule.min_amount) == "500.00"
    assert AuditEvent.objects.filter(action="alerts.rule_create", object_id=str(rule.pk)).exists()


def test_deliveries_are_listed_filtered_and_resent(supervisor, webhook, receiver, fast_retries):
    receiver.default = 503
    case, events = open_case("acct-page")
    alert_events_dispatch(event_ids=[e.pk for e in events])
    delivery = run_until_final(Delivery.objects.get(case=case))
    assert delivery.status == Delivery.Status.DEAD
    client = client_for(supervisor)
    home = client.get("/alerts/").content.decode()
    assert "acct-page" in home and "Dead (gave up)" in home and "core-banking" in home
    assert "100 %" in home  # the channel's failure rate
    assert "acct-page" not in client.get("/alerts/?status=sent").content.decode()
    assert "acct-page" in client.get(f"/alerts/?status=dead&case={case.pk}").content.decode()
    detail = client.get(f"/alerts/deliveries/{delivery.pk}/").content.decode()
    assert str(delivery.delivery_id) in detail and "HTTP 503" in detail

    response = client.post(f"/alerts/deliveries/{delivery.pk}/resend/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert AuditEvent.objects.filter(action="alerts.delivery_resend").count() == 1


def test_a_bad_filter_is_a_400_naming_the_field(supervisor):
    response = client_for(supervisor).get("/alerts/?case=abc&status=nonsense")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a whole number." in html and "Select a valid choice." in html
