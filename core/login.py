"""Sign-in protection: failed sign-ins lock a username+address pair, and an address, for a while.

Why not django-axes: it counts one ``AXES_FAILURE_LIMIT`` for every lockout parameter (this needs
a low limit per username+address and a higher one per address), keys on the username exactly as
typed unless given the same normalisation as below, keeps its own three tables (and migrations)
beside ``LoginFailure``, and records nothing in the audit chain. The rules here are short and
tested: ``tests/core/test_login_lockout.py``.

- The key is the username as Django authenticates it (``AbstractBaseUser.normalize_username``:
  NFKC), stripped and case-folded, so ``ｓupervisor2`` (fullwidth s) and ``Supervisor2`` count
  against ``supervisor2``.
- ``LOGIN_LOCKOUT_FAILURES`` failures for a key from one address within
  ``LOGIN_LOCKOUT_MINUTES`` lock that pair; ``LOGIN_ADDRESS_MAX_FAILURES`` failures from one
  address, whatever the usernames, lock the address. Refused attempts are not recorded.
- Bounded bookkeeping: a pair keeps at most ``LOGIN_LOCKOUT_FAILURES`` rows and an address at most
  ``LOGIN_ADDRESS_MAX_FAILURES``; rows older than the window are purged by the beat task
  ``fraudcases.purge_login_failures`` (and a key's own expired rows on its next failure).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.models import LoginFailure

from .audit import audit_record

USERNAME_MAX = 150  # LoginFailure.username


@dataclass(frozen=True)
class LoginBlock:
    """Sign-in refused until ``until``; ``scope`` says why: ``"username"`` (this username from
    this address) or ``"address"`` (too many failures from this address)."""

    scope: str
    until: datetime


def login_username_key(username: str) -> str:
    """The lockout key of a submitted username: Django's normalisation (NFKC, what the sign-in
    form authenticates with), stripped and case-folded; empty when nothing is left."""
    name = AbstractBaseUser.normalize_username(username or "").strip()
    return unicodedata.normalize("NFKC", name.casefold())[:USERNAME_MAX]


def _window() -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def _until(failures: QuerySet[LoginFailure], limit: int) -> datetime | None:
    """If ``limit`` failures lie in the window, the end of the lock (last failure + window)."""
    recent = list(
        failures.filter(created_at__gte=timezone.now() - _window())
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if limit <= 0 or len(recent) < limit:
        return None
    return recent[0] + _window()


def _pair(key: str, ip_address: str | None) -> QuerySet[LoginFailure]:
    return LoginFailure.objects.filter(username=key, ip_address=ip_address)


def _address(ip_address: str | None) -> QuerySet[LoginFailure]:
    return LoginFailure.objects.filter(ip_address=ip_address)


def login_block_find(*, username: str, ip_address: str | None) -> LoginBlock | None:
    """The block that refuses this sign-in attempt now, if any (pair first, then address)."""
    return _block_for_key(login_username_key(username), ip_address)


def _block_for_key(key: str, ip_address: str | None) -> LoginBlock | None:
    if key:
        until = _until(_pair(key, ip_address), settings.LOGIN_LOCKOUT_FAILURES)
        if until is not None:
            return LoginBlock(scope="username", until=until)
    until = _until(_address(ip_address), settings.LOGIN_ADDRESS_MAX_FAILURES)
    if until is not None:
        return LoginBlock(scope="address", until=until)
    return None


def _trim(failures: QuerySet[LoginFailure], keep: int) -> None:
    """Keep only the newest ``keep`` rows (two racing failures may briefly exceed the cap)."""
    extra = list(failures.order_by("-created_at", "-pk").values_list("pk", flat=True)[keep:])
    if extra:
        LoginFailure.objects.filter(pk__in=extra).delete()


@transaction.atomic
def login_failure_record(*, username: str, ip_address: str | None) -> LoginBlock | None:
    """Count a failed sign-in for the normalised username and the address; returns the block
    when this failure locks the pair or the address (each lock is audited once)."""
    key = login_username_key(username)
    if not key:
        return None
    cutoff = timezone.now() - _window()
    _pair(key, ip_address).filter(created_at__lt=cutoff).delete()
    LoginFailure.objects.create(username=key, ip_address=ip_address)
    _trim(_pair(key, ip_address), settings.LOGIN_LOCKOUT_FAILURES)
    _trim(_address(ip_address), settings.LOGIN_ADDRESS_MAX_FAILURES)
    block = _block_for_key(key, ip_address)
    if block is not None:
        scope = _pair(key, ip_address) if block.scope == "username" else _address(ip_address)
        limit = (
            settings.LOGIN_LOCKOUT_FAILURES
            if block.scope == "username"
            else settings.LOGIN_ADDRESS_MAX_FAILURES
        )
        if scope.filter(created_at__gte=cutoff).count() == limit:
            audit_record(
                action="auth.lockout",
                actor_label=f"anonymous:{key[:100]}",
                after={
                    "username": key,
                    "submitted": (username or "")[:USERNAME_MAX],
                    "scope": block.scope,
                    "until": block.until.isoformat(),
                },
                ip_address=ip_address,
                note=(
                    f"{limit} failed sign-ins "
                    f"{'for this username ' if block.scope == 'username' else ''}from "
                    f"{ip_address or 'an unknown address'}; locked until "
                    f"{block.until:%H:%M} UTC."
                ),
            )
    return block


@transaction.atomic
def login_success_record(*, user, ip_address: str | None) -> None:
    """Clear the pair's failures and record the sign-in."""
    _pair(login_username_key(user.get_username()), ip_address).delete()
    audit_record(actor=user, action="auth.login", obj=user, ip_address=ip_address)


@transaction.atomic
def login_failures_purge() -> int:
    """Delete failures older than the lockout window (they no longer count); returns how many."""
    deleted, _ = LoginFailure.objects.filter(created_at__lt=timezone.now() - _window()).delete()
    return deleted
