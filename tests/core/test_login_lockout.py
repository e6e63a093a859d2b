"""Sign-in protection: the lockout key is the normalised username, an address has its own limit,
and the bookkeeping stays bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from core.login import (
    login_block_find,
    login_failure_record,
    login_failures_purge,
    login_username_key,
)
from core.models import AuditEvent, LoginFailure
from core.tasks import purge_login_failures

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-for-tests"
FULLWIDTH = "ｓupervisor2"  # U+FF53 FULLWIDTH LATIN SMALL LETTER S


@pytest.fixture
def supervisor2():
    return get_user_model().objects.create_user(username="supervisor2", password=PASSWORD)


def sign_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_key_is_djangos_normalisation_plus_case_folding():
    assert login_username_key(FULLWIDTH) == "supervisor2"
    assert login_username_key("  SUPERVISOR2 ") == "supervisor2"
    assert login_username_key("ｓｕｐｅｒｖｉｓｏｒ２") == "supervisor2"
    assert login_username_key("Straße") == "strasse"
    assert login_username_key("   ") == ""
    assert len(login_username_key("x" * 500)) == 150


def test_fullwidth_name_signs_in_as_the_user_when_not_locked(supervisor2):
    """Django authenticates the NFKC form: the fullwidth name *is* supervisor2 (this is why the
    lockout must count it against the same key)."""
    client = Client()
    response = sign_in(client, FULLWIDTH, PASSWORD)
    assert response.status_code == 302 and signed_in(client)


@override_settings(LOGIN_LOCKOUT_FAILURES=5)
def test_fullwidth_username_does_not_bypass_the_lockout(supervisor2):
    client = Client()
    for attempt in range(5):
        response = sign_in(client, "supervisor2", "wrong")
        assert response.status_code == (429 if attempt == 4 else 200)
    for variant in (FULLWIDTH, "Supervisor2", " supervisor2 ", "supervisor2"):
        response = sign_in(client, variant, PASSWORD)
        assert response.status_code == 429, variant
        assert "Too many failed sign-ins for this username" in response.content.decode()
        assert int(response["Retry-After"]) > 0
        assert not signed_in(client)
    assert set(LoginFailure.objects.values_list("username", flat=True)) == {"supervisor2"}
    event = AuditEvent.objects.get(action="auth.lockout")
    assert event.after["username"] == "supervisor2" and event.after["scope"] == "username"


@override_settings(LOGIN_LOCKOUT_FAILURES=3)
def test_failures_under_variants_add_up_to_one_lock(supervisor2):
    client = Client()
    assert sign_in(client, FULLWIDTH, "wrong").status_code == 200
    assert sign_in(client, "SUPERVISOR2", "wrong").status_code == 200
    assert sign_in(client, "supervisor2", "wrong").status_code == 429
    assert sign_in(client, "supervisor2", PASSWORD).status_code == 429


@override_settings(LOGIN_LOCKOUT_FAILURES=5, LOGIN_ADDRESS_MAX_FAILURES=4)
def test_per_address_throttle_across_usernames(supervisor2):
    guesser = Client(REMOTE_ADDR="198.51.100.7")
    for i in range(3):
        assert sign_in(guesser, f"user{i}", "wrong").status_code == 200
    response = sign_in(guesser, "user3", "wrong")
    assert response.status_code == 429
    # Now every attempt from that address is refused, even a right password for another name.
    response = sign_in(guesser, "supervisor2", PASSWORD)
    assert response.status_code == 429 and not signed_in(guesser)
    assert "from your address" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    # Refused attempts are not counted: the table holds the four failures only.
    assert LoginFailure.objects.filter(ip_address="198.51.100.7").count() == 4
    event = AuditEvent.objects.get(action="auth.lockout")
    assert event.after["scope"] == "address" and event.ip_address == "198.51.100.7"
    # Another address is not affected.
    other = Client(REMOTE_ADDR="198.51.100.8")
    assert sign_in(other, "supervisor2", PASSWORD).status_code == 302 and signed_in(other)
    # The block lifts after the window.
    LoginFailure.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    assert login_block_find(username="supervisor2", ip_address="198.51.100.7") is None
    assert sign_in(guesser, "supervisor2", PASSWORD).status_code == 302


@override_settings(LOGIN_LOCKOUT_FAILURES=3, LOGIN_ADDRESS_MAX_FAILURES=7)
def test_bookkeeping_is_capped_per_pair_and_per_address():
    # The service is called directly (the view would refuse before recording): even so, a pair
    # never keeps more than its cap and an address never more than its own.
    for _ in range(10):
        login_failure_record(username="victim", ip_address="203.0.113.5")
    assert LoginFailure.objects.filter(username="victim", ip_address="203.0.113.5").count() == 3
    for i in range(30):
        login_failure_record(username=f"name{i}", ip_address="203.0.113.5")
    assert LoginFailure.objects.filter(ip_address="203.0.113.5").count() == 7
    # Blank names are not recorded at all.
    assert login_failure_record(username="  ", ip_address="203.0.113.6") is None
    assert not LoginFailure.objects.filter(ip_address="203.0.113.6").exists()


def test_expired_failures_are_purged_by_the_beat_task():
    for i in range(4):
        login_failure_record(username=f"old{i}", ip_address=f"192.0.2.{i}")
    login_failure_record(username="fresh", ip_address="192.0.2.200")
    LoginFailure.objects.exclude(username="fresh").update(
        created_at=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    )
    assert purge_login_failures() == 4
    assert list(LoginFailure.objects.values_list("username", flat=True)) == ["fresh"]
    assert login_failures_purge() == 0
    entry = settings.CELERY_BEAT_SCHEDULE["purge-login-failures"]
    assert entry["task"] == "core.purge_login_failures"


@override_settings(LOGIN_LOCKOUT_FAILURES=3)
def test_success_clears_the_pair_under_its_normalised_key(supervisor2):
    client = Client()
    sign_in(client, FULLWIDTH, "wrong")
    sign_in(client, "Supervisor2", "wrong")
    assert LoginFailure.objects.count() == 2
    assert sign_in(client, "supervisor2", PASSWORD).status_code == 302
    assert LoginFailure.objects.count() == 0


@override_settings(LOGIN_LOCKOUT_FAILURES=2)
def test_the_admin_login_is_no_way_around_the_lockout(supervisor2):
    client = Client()
    sign_in(client, "supervisor2", "wrong")
    assert sign_in(client, "supervisor2", "wrong").status_code == 429
    response = client.post("/admin/login/", {"username": FULLWIDTH, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not signed_in(client)
