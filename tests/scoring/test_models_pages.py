"""The registry and rules pages: access per role, lifecycle actions, rule editing and preview."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from scoring.models import DriftReport, EvaluationReport, ModelVersion, Rule
from scoring.services.registry import champion_cache
from scoring.services.scoring import transactions_score
from tests.helpers import ingest_recent, load_history, split_history
from tests.lifecycle_helpers import make_version

ROLES = ("investigator", "supervisor", "admin", "auditor")


@pytest.fixture
def registry(db, trained_model_file):
    champion_cache.clear()
    champ = make_version(trained_model_file, "v-champ", "champion", promoted_days_ago=1)
    old = make_version(trained_model_file, "v-old", "retired", promoted_days_ago=5)
    chall = make_version(trained_model_file, "v-chall", "challenger")
    cand = make_version(trained_model_file, "v-cand")
    rule = Rule.objects.create(name="big", expression="amount > 10000", risk_floor=80)
    DriftReport.objects.create(
        model_version=champ,
        reference_start="2026-01-01T00:00Z",
        reference_end="2026-01-08T00:00Z",
        current_start="2026-01-08T00:00Z",
        current_end="2026-01-09T00:00Z",
        feature_psi={"amount_log": 0.42, "count_1h": 0.01},
        score_psi=0.05,
        threshold=0.2,
        alert=True,
    )
    EvaluationReport.objects.create(
        holdout_share=0.3,
        rows=1000,
        positives=20,
        model_version=champ,
        report={
            "candidate": {"average_precision": 0.81, "roc_auc": 0.97},
            "raw_gbm": {"average_precision": 0.4, "roc_auc": 0.9},
            "positives": 20,
        },
    )
    yield {"champ": champ, "old": old, "chall": chall, "cand": cand, "rule": rule}
    champion_cache.clear()


def urls(objs) -> dict[str, str]:
    """Every page of this app, by URL name (GET)."""
    return {
        "models-list": reverse("models-list"),
        "models-detail": reverse("models-detail", args=[objs["chall"].pk]),
        "models-promote": reverse("models-promote", args=[objs["cand"].pk]),
        "models-challenger": reverse("models-challenger", args=[objs["cand"].pk]),
        "models-retire": reverse("models-retire", args=[objs["cand"].pk]),
        "models-rollback": reverse("models-rollback"),
        "rules-list": reverse("rules-list"),
        "rules-create": reverse("rules-create"),
        "rules-edit": reverse("rules-edit", args=[objs["rule"].pk]),
        "rules-toggle": reverse("rules-toggle", args=[objs["rule"].pk]),
    }


def expected_status(name: str, role: str) -> int:
    allowed = ("supervisor", "admin") if name.startswith("models-") else ("admin",)
    return 200 if role in allowed else 403


def test_every_page_per_role(registry, make_user):
    for role in ROLES:
        client = Client()
        client.force_login(make_user(role))
        for name, url in urls(registry).items():
            response = client.get(url)
            assert response.status_code == expected_status(name, role), (role, name)
            if response.status_code == 200:
                html = response.content.decode()
                # CSP script-src 'self': no inline scripts or handlers on these pages.
                assert not re.search(r"<script(?![^>]*\bsrc=)", html), name
                assert not re.search(r"\son[a-z]+=", html), name


def test_anonymous_users_are_sent_to_login(registry):
    client = Client()
    for url in urls(registry).values():
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = client.post(reverse("models-rollback"))
    assert response.status_code == 302
    assert ModelVersion.objects.get(role="champion").version == "v-champ"


def test_the_registry_shows_versions_comparison_drift_and_evaluation(
    registry, make_user, synthetic_history
):
    older, recent = split_history(synthetic_history)
    load_history(older)
    transactions_score(transaction_ids=ingest_recent(recent.iloc[:300]))
    client = Client()
    client.force_login(make_user("supervisor"))
    html = client.get(reverse("models-list")).content.decode()
    for text in ("v-champ", "v-old", "v-chall", "v-cand", "Roll back to v-old"):
        assert text in html
    assert "300 transactions scored by both" in html
    assert "Agreement on alerting" in html and "100 %" in html
    assert "amount_log" in html and "Drift above 0.2" in html
    assert "candidate" in html and "0.810" in html and "raw_gbm" in html
    detail = client.get(reverse("models-detail", args=[registry["chall"].pk])).content.decode()
    assert "Against the champion (v-champ)" in detail and "amount_log" in detail


def test_promote_and_rollback_from_the_page(registry, make_user):
    supervisor = make_user("supervisor")
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    promote = reverse("models-promote", args=[registry["chall"].pk])
    # Without the CSRF token the POST is refused and nothing changes.
    assert client.post(promote).status_code == 403
    assert ModelVersion.objects.get(role="champion").version == "v-champ"
    page = client.get(promote)
    assert page.status_code == 200 and b"Promote v-chall to champion" in page.content
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    response = client.post(promote, {"csrfmiddlewaretoken": token.decode(), "note": "AP up"})
    assert response.status_code == 302 and response["Location"] == reverse("models-list")
    assert ModelVersion.objects.get(role="champion").version == "v-chall"
    event = AuditEvent.objects.get(action="model.promote")
    assert event.actor == supervisor and event.note == "AP up" and event.request_id
    listing = client.get(reverse("models-list")).content.decode()
    assert "v-chall is now the champion." in listing and "Roll back to v-champ" in listing
    response = client.post(reverse("models-rollback"), {"csrfmiddlewaretoken": token.decode()})
    assert response.status_code == 302
    assert ModelVersion.objects.get(role="champion").version == "v-champ"
    assert AuditEvent.objects.get(action="model.rollback").actor == supervisor
    # A refused action is a message, not an error page.
    response = client.post(
        reverse("models-retire", args=[registry["champ"].pk]),
        {"csrfmiddlewaretoken": token.decode()},
        follow=True,
    )
    assert response.status_code == 200 and b"is the champion" in response.content


def test_investigators_cannot_promote(registry, make_user):
    client = Client()
    client.force_login(make_user("investigator"))
    assert client.post(reverse("models-promote", args=[registry["cand"].pk])).status_code == 403
    assert ModelVersion.objects.get(pk=registry["cand"].pk).role == "candidate"


def test_admin_creates_tests_edits_and_disables_a_rule(registry, make_user, synthetic_history):
    older, recent = split_history(synthetic_history)
    load_history(older)
    transactions_score(transaction_ids=ingest_recent(recent.iloc[:100]))
    admin = make_user("admin")
    client = Client()
    client.force_login(admin)
    data = {
        "name": "new-country-large",
        "expression": "amount > 200 and new_country_30d == 1",
        "risk_floor": "85",
        "reason": "Large amount from a new country",
        "is_active": "on",
        "preview_limit": "100",
    }
    preview = client.post(reverse("rules-create"), {**data, "preview": "1"})
    assert preview.status_code == 200 and b"of the last 100 scored transactions" in preview.content
    assert not Rule.objects.filter(name="new-country-large").exists()

    bad = client.post(reverse("rules-create"), {**data, "expression": "amout > 200", "save": "1"})
    assert bad.status_code == 400
    assert (
        "Unknown name &#x27;amout&#x27; (did you mean &#x27;amount&#x27;?)" in bad.content.decode()
    )
    assert not Rule.objects.filter(name="new-country-large").exists()
    bad = client.post(reverse("rules-create"), {**data, "expression": "open('x')", "save": "1"})
    assert bad.status_code == 400 and b"Not allowed: function calls" in bad.content

    response = client.post(reverse("rules-create"), {**data, "save": "1"})
    assert response.status_code == 302
    rule = Rule.objects.get(name="new-country-large")
    assert AuditEvent.objects.get(action="rule.create").actor == admin

    response = client.post(
        reverse("rules-edit", args=[rule.pk]), {**data, "risk_floor": "90", "save": "1"}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.risk_floor == 90
    response = client.post(reverse("rules-toggle", args=[rule.pk]))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.is_active
    updates = AuditEvent.objects.filter(action="rule.update").order_by("id")
    assert [e.after for e in updates] == [{"risk_floor": 90}, {"is_active": False}]
    duplicate = client.post(reverse("rules-create"), {**data, "name": "big", "save": "1"})
    assert duplicate.status_code == 400 and b"already exists" in duplicate.content
    listing = client.get(reverse("rules-list")).content.decode()
    assert "new-country-large" in listing and "Disabled" in listing


def test_supervisors_cannot_change_rules(registry, make_user):
    client = Client()
    client.force_login(make_user("supervisor"))
    response = client.post(
        reverse("rules-create"),
        {"name": "x", "expression": "amount > 1", "risk_floor": "50", "save": "1"},
    )
    assert response.status_code == 403
    assert client.post(reverse("rules-toggle", args=[registry["rule"].pk])).status_code == 403
    assert Rule.objects.get(pk=registry["rule"].pk).is_active


def test_an_empty_post_still_acts(registry, make_user):
    client = Client()
    client.force_login(make_user("admin"))
    response = client.post(reverse("models-challenger", args=[registry["cand"].pk]))
    assert response.status_code == 302
    assert ModelVersion.objects.get(pk=registry["cand"].pk).role == "challenger"
