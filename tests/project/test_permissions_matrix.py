"""Permission matrix: every URL in the URL conf × every role (and anonymous) → expected status.

Generated from the URL conf (``get_resolver()`` walk): a new URL without an expectation here fails
``test_every_url_has_an_expectation``. Add new pages to ``EXPECTED`` (by URL name), or name them
with a covered prefix (``PREFIX_RULES``: ``models-``, ``rules-``, ``admin:``).
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from fraudcases import services
from scoring.models import ModelVersion, Rule
from tests.alerts.helpers import matrix_objects as alert_matrix_objects
from tests.factories import CaseFactory

ROLES = ("anonymous", "investigator", "supervisor", "admin", "auditor")
LOGIN = 302  # anonymous → redirected to the sign-in page (checked below)
API_ANON = 401

# (GET unless "method" is given) status per role, in ROLES order.
EXPECTED: dict[str, dict] = {
    "": {"status": (302, 302, 302, 302, 302)},  # / → /cases/
    "login": {"status": (200, 302, 302, 302, 302)},
    "logout": {"method": "post", "status": (302, 302, 302, 302, 302)},
    "case-queue": {"status": (LOGIN, 200, 200, 200, 200)},
    "case-queue-live": {"status": (LOGIN, 200, 200, 200, 200)},
    "case-next": {"status": (LOGIN, 200, 200, 403, 403)},
    # Routing: a person's queues and their own off-duty flag (case workers).
    "case-duty": {"status": (LOGIN, 200, 200, 403, 403)},
    "case-bulk": {"method": "post", "status": (LOGIN, 400, 400, 403, 403)},
    "case-detail": {"status": (LOGIN, 200, 200, 200, 200)},
    "case-attachment-upload": {"method": "post", "status": (LOGIN, 400, 400, 403, 403)},
    "case-action": {
        "method": "post",
        "kwargs": {"action": "note"},
        "data": {"body": "matrix note"},
        "status": (LOGIN, 302, 302, 403, 403),
    },
    "attachment-download": {"status": (LOGIN, 200, 200, 200, 200)},
    "supervisor": {"status": (LOGIN, 403, 200, 200, 200)},
    "dashboard": {"status": (LOGIN, 200, 200, 200, 200)},
    # Reporting and quality review (docs/reporting.md).
    "dashboard-data": {"status": (LOGIN, 200, 200, 200, 200)},
    "dashboard-csv": {"kwargs": {"chart": "volume"}, "status": (LOGIN, 200, 200, 200, 200)},
    "qa-queue": {"status": (LOGIN, 403, 200, 200, 200)},
    # The role is checked before the lookup: the matrix's id names no review (404).
    "qa-review": {"status": (LOGIN, 403, 404, 404, 404)},
    "case-report": {"status": (LOGIN, 200, 200, 200, 200)},
    "case-sar": {"status": (LOGIN, 200, 200, 403, 403)},
    "audit-log": {"status": (LOGIN, 403, 403, 200, 200)},
    "audit-export": {"status": (LOGIN, 403, 403, 200, 200)},
    # 503 here: the test run has no worker heartbeat; either way it answers everyone.
    "healthz": {"status": (503, 503, 503, 503, 503)},
    "metrics": {"status": (401, 403, 403, 200, 403)},  # staff (admins) or METRICS_TOKEN
    "api-cases": {"status": (API_ANON, 200, 200, 200, 200)},
    "api-case-detail": {"status": (API_ANON, 200, 200, 200, 200)},
    "api-case-graph": {"status": (API_ANON, 200, 200, 200, 200)},
    "api-case-action": {
        "method": "post",
        "kwargs": {"action": "note"},
        "data": {"body": "matrix note"},
        "status": (API_ANON, 201, 201, 403, 403),
    },
    # Ingestion is for API keys only (machine clients); people get 403.
    "api-transactions": {"method": "post", "data": {}, "status": (API_ANON, 403, 403, 403, 403)},
    "api-transactions-score": {
        "method": "post",
        "data": {},
        "status": (API_ANON, 403, 403, 403, 403),
    },
    "api-transaction-detail": {"status": (API_ANON, 200, 200, 200, 200)},
    "api-schema": {"status": (API_ANON, 200, 200, 200, 200)},
    "api-docs": {"status": (API_ANON, 200, 200, 200, 200)},
    # The admin is a triage interface for every role (what each may do per model is in
    # core/admin_rules.py, walked by tests/project/test_admin_walk.py).
    "admin:index": {"status": (LOGIN, 200, 200, 200, 200)},
    "admin:fraudcases_case_changelist": {"status": (LOGIN, 200, 200, 200, 200)},
    "admin:core_auditevent_changelist": {"status": (LOGIN, 403, 403, 200, 200)},
    # Rolling back needs an earlier champion; without one the page redirects with a message.
    "models-rollback": {"status": (LOGIN, 403, 302, 302, 403)},
    # Alerts (docs/alerts.md): supervisors and admins read, resend and test; admins change.
    "alerts-home": {"status": (LOGIN, 403, 200, 200, 403)},
    "alerts-channel-create": {"status": (LOGIN, 403, 403, 200, 403)},
    "alerts-channel-edit": {"status": (LOGIN, 403, 403, 200, 403)},
    "alerts-channel-test": {"method": "post", "status": (LOGIN, 403, 302, 302, 403)},
    "alerts-channel-pause": {
        "method": "post",
        "data": {"reason": "matrix"},
        "status": (LOGIN, 403, 403, 302, 403),
    },
    "alerts-channel-resume": {"method": "post", "status": (LOGIN, 403, 403, 302, 403)},
    "alerts-rule-create": {"status": (LOGIN, 403, 403, 200, 403)},
    "alerts-rule-edit": {"status": (LOGIN, 403, 403, 200, 403)},
    "alerts-delivery-detail": {"status": (LOGIN, 403, 200, 200, 403)},
    "alerts-delivery-resend": {"method": "post", "status": (LOGIN, 403, 302, 302, 403)},
    # Account actions (docs/alerts.md): case workers request (the empty form is a 400 after the
    # role check), supervisors decide (the matrix's action id names none: 404), everyone who
    # reads cases lists them; core banking's result callback takes an API key only.
    "case-account-actions": {"method": "post", "status": (LOGIN, 400, 400, 403, 403)},
    "case-account-action-approve": {"method": "post", "status": (LOGIN, 403, 404, 403, 403)},
    "case-account-action-reject": {"method": "post", "status": (LOGIN, 403, 404, 403, 403)},
    "api-case-account-actions": {"status": (API_ANON, 200, 200, 200, 200)},
    "api-account-action-approve": {"method": "post", "status": (API_ANON, 403, 404, 403, 403)},
    "api-account-action-reject": {"method": "post", "status": (API_ANON, 403, 404, 403, 403)},
    "api-account-action-result": {"method": "post", "status": (API_ANON, 403, 403, 403, 403)},
}
# URL-name prefixes with one rule for every page under them (another engineer's pages).
PREFIX_RULES: dict[str, dict] = {
    "models-": {"status": (LOGIN, 403, 200, 200, 403)},  # model registry: supervisors, admins
    "rules-": {"status": (LOGIN, 403, 403, 200, 403)},  # detection rules: admins
    # Django admin: anonymous users go to the sign-in page; for every role (None) any non-error
    # answer: what each role may see and change per model is the admin walk's business
    # (tests/project/test_admin_walk.py), where 403 / 200 / 302 are asserted model by model.
    "admin:": {"status": (LOGIN, None, None, None, None)},
    "admin/": {"status": (LOGIN, None, None, None, None)},  # the admin's unnamed redirects
}


def _walk(resolver, prefix="", namespace=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield prefix + str(entry.pattern), name, entry


def url_patterns():
    seen = set()
    for route, name, entry in _walk(get_resolver()):
        key = name or route
        if key in seen:
            continue
        seen.add(key)
        yield key, route, entry


def expectation(key: str) -> dict | None:
    if key in EXPECTED:
        return EXPECTED[key]
    for prefix, rule in PREFIX_RULES.items():
        if key.startswith(prefix):
            return rule
    return None


ALL = list(url_patterns())


def test_every_url_has_an_expectation():
    missing = [f"{key} ({route})" for key, route, _ in ALL if expectation(key) is None]
    assert not missing, "Add these URLs to the permission matrix: " + ", ".join(missing)


def _build_world(media) -> dict:
    for name in ("investigator", "supervisor", "admin", "auditor"):
        Group.objects.get_or_create(name=name)
    users = {}
    for role in ROLES[1:]:
        user = get_user_model().objects.create_user(username=f"m-{role}", password="pw-tests")
        user.groups.add(Group.objects.get(name=role))
        # The admin as seed_demo creates it: staff and superuser (every admin model page).
        user.is_staff = user.is_superuser = role == "admin"
        user.save(update_fields=["is_staff", "is_superuser"])
        users[role] = user
    case = CaseFactory()
    attachment = services.attachment_add(
        case=case,
        actor=users["supervisor"],
        upload=SimpleUploadedFile("evidence.txt", b"evidence"),
    )
    model = ModelVersion.objects.create(version="matrix-1", algorithm="x", file_path="/nope")
    rule = Rule.objects.create(name="matrix-rule", expression="amount > 1", risk_floor=70)
    txn = case.transactions.first()
    sessions = {}
    for role, user in users.items():
        signed_in = Client()
        signed_in.force_login(user)
        sessions[role] = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "media": media,
        "users": users,
        "sessions": sessions,
        "values": {
            "pk": case.pk,
            "external_id": txn.external_id,
            "object_id": str(case.pk),
            "app_label": "fraudcases",
        },
        "pk_for": {
            "attachment-download": attachment.pk,
            "models-": model.pk,
            "rules-": rule.pk,
            **alert_matrix_objects(),
        },
    }


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The matrix's objects and one signed-in session per role, made once for the module inside
    a transaction rolled back after its last test. Each test runs in a savepoint of it (the
    ``db`` fixture), so whatever a request writes (a note, a sign-out) is undone after it."""
    media = tmp_path_factory.mktemp("matrix-private")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media), transaction.atomic():
        yield _build_world(media)
        transaction.set_rollback(True)


@pytest.fixture
def world(db, shared_world, settings):
    settings.MEDIA_ROOT = shared_world["media"]
    return shared_world


def _kwargs(key: str, names: set[str], world, rule: dict) -> dict:
    kwargs = {}
    for param in names:
        value = world["values"].get(param, "1")
        for prefix, pk in world["pk_for"].items():
            if param == "pk" and key.startswith(prefix):
                value = pk
        kwargs[param] = rule.get("kwargs", {}).get(param, value)
    return kwargs


def _url(key: str, route: str, entry, world, rule: dict) -> str | None:
    names = set(entry.pattern.regex.groupindex)
    kwargs = _kwargs(key, names, world, rule)
    if key != route:
        return reverse(key, kwargs=kwargs)
    if "(?P" in route:
        return None  # a catch-all regex (the admin's final redirect) has no single URL
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), route)


def _client(role: str, world, api: bool):
    client = APIClient() if api else Client()
    if role != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = world["sessions"][role]
    return client


@pytest.mark.parametrize("key,route,entry", ALL, ids=[k for k, _, _ in ALL])
def test_permission_matrix(key, route, entry, world):
    rule = expectation(key)
    assert rule is not None, f"No expectation for {key}"
    url = _url(key, route, entry, world, rule)
    if url is None:
        pytest.skip(f"{route} is a catch-all without a reversible URL")
    method = rule.get("method", "get")
    api = key.startswith("api-")
    wrong = []
    for role, expected in zip(ROLES, rule["status"], strict=True):
        client = _client(role, world, api)
        data = rule.get("data")
        if api and method == "post":
            response = client.post(url, data or {}, format="json")
        else:
            response = getattr(client, method)(url, data or {})
        got = response.status_code
        # None (admins on admin pages): anything but a server error — read-only models refuse
        # add/delete with 403 and pages of a missing object redirect.
        ok = got < 500 if expected is None else got == expected
        if ok and role == "anonymous" and got == 302 and not api and key not in ("", "logout"):
            ok = response["Location"].startswith("/accounts/login/")
        if not ok:
            wrong.append(f"{role}: expected {expected}, got {got}")
    assert not wrong, f"{method.upper()} {url}: " + "; ".join(wrong)


def test_api_keys_cannot_use_the_case_api(world, api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    assert client.get("/api/v1/cases").status_code == 403
    case_pk = world["values"]["pk"]
    assert client.post(f"/api/v1/cases/{case_pk}/note", {"body": "x"}).status_code == 403
