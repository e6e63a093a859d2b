"""Sign-in hardening: failed sign-ins lock a username+address pair out for a while."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..audit import audit_record
from ..models import LoginFailure


def login_locked_until(*, username: str, ip_address: str | None) -> datetime | None:
    """When the username+address pair is locked out, the time the lock lifts; else ``None``."""
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    since = timezone.now() - window
    failures = list(
        LoginFailure.objects.filter(
            username=username.lower(), ip_address=ip_address, created_at__gte=since
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.LOGIN_LOCKOUT_FAILURES]
    )
    if len(failures) < settings.LOGIN_LOCKOUT_FAILURES:
        return None
    return failures[0] + window


@transaction.atomic
def login_failure_record(*, username: str, ip_address: str | None) -> datetime | None:
    """Count a failed sign-in; returns the lock's end when this failure locks the pair."""
    # Failures older than the window no longer count: drop them so the table stays small.
    LoginFailure.objects.filter(
        username=username.lower()[:150],
        created_at__lt=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES),
    ).delete()
    LoginFailure.objects.create(username=username.lower()[:150], ip_address=ip_address)
    until = login_locked_until(username=username, ip_address=ip_address)
    if until is not None:
        count = LoginFailure.objects.filter(
            username=username.lower(),
            ip_address=ip_address,
            created_at__gte=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES),
        ).count()
        if count == settings.LOGIN_LOCKOUT_FAILURES:
            audit_record(
                action="auth.lockout",
                actor_label=f"anonymous:{username[:100]}",
                after={"username": username[:150], "until": until.isoformat()},
                ip_address=ip_address,
                note=f"{count} failed sign-ins; locked until {until:%H:%M} UTC.",
            )
    return until


@transaction.atomic
def login_success_record(*, user, ip_address: str | None) -> None:
    """Clear the pair's failures and record the sign-in."""
    LoginFailure.objects.filter(
        username=user.get_username().lower(), ip_address=ip_address
    ).delete()
    audit_record(actor=user, action="auth.login", obj=user, ip_address=ip_address)
