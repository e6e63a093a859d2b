"""People and their roles: created, changed and deactivated by admins only, always audited.

Users are never deleted (audit events and notes point at them); deactivating one signs them out
of everything from the next request on.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from core.audit import audit_record
from core.errors import ApplicationError
from core.permissions import ADMIN, ROLES, ensure_allowed, user_roles

User = AbstractBaseUser
PROFILE_FIELDS = ("email", "first_name", "last_name")


def _roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [r for r in chosen if r not in ROLES]
    if unknown:
        raise ApplicationError(
            f"Unknown role(s): {', '.join(unknown)}.", {"roles": [f"One of: {', '.join(ROLES)}."]}
        )
    return chosen


def _snapshot(user) -> dict:
    return {
        "username": user.get_username(),
        "roles": sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True)),
        "is_active": user.is_active,
        **{f: getattr(user, f) for f in PROFILE_FIELDS},
    }


def _set_roles(user, roles: list[str]) -> None:
    user.groups.set(Group.objects.filter(name__in=roles))
    # Staff flag follows the admin role (Django's own checks read it); the site gate is roles.
    user.is_staff = ADMIN in roles
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("_fraudcases_roles", None)


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    password: str,
    roles: Iterable[str],
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a person with a password (checked by the password validators) and roles."""
    ensure_allowed(actor, "user.manage")
    model = get_user_model()
    username = model.normalize_username((username or "").strip())
    if not username:
        raise ApplicationError("A username is required.", {"username": ["Required."]})
    if model.objects.filter(username__iexact=username).exists():
        raise ApplicationError(f"'{username}' exists.", {"username": ["This username exists."]})
    chosen = _roles(roles)
    candidate = model(username=username, email=email, first_name=first_name, last_name=last_name)
    try:
        password_validation.validate_password(password or "", user=candidate)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), {"password": exc.messages}) from exc
    candidate.set_password(password)
    candidate.save()
    _set_roles(candidate, chosen)
    audit_record(actor=actor, action="user.create", obj=candidate, after=_snapshot(candidate))
    return candidate


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    roles: Iterable[str] | None = None,
    is_active: bool | None = None,
    **profile: str,
) -> User:
    """Change a person's roles, active flag or profile (email, names). Admins cannot take the
    admin role from themselves or deactivate themselves (the last way in would go)."""
    ensure_allowed(actor, "user.manage")
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown user field(s): {', '.join(sorted(unknown))}.")
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    before = _snapshot(user)
    drops_own_admin = roles is not None and ADMIN not in roles and ADMIN in user_roles(user)
    if user.pk == actor.pk and (is_active is False or drops_own_admin):
        raise ApplicationError(
            "You cannot deactivate yourself or give up your own admin role; ask another admin.",
            {"roles": ["Not on yourself."]},
        )
    for name, value in profile.items():
        setattr(user, name, value or "")
    if is_active is not None:
        user.is_active = is_active
    user.save(update_fields=[*profile, "is_active"])
    if roles is not None:
        _set_roles(user, _roles(roles))
    after = _snapshot(user)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        audit_record(
            actor=actor,
            action="user.update",
            obj=user,
            before={k: before[k] for k in changed},
            after=changed,
        )
    return user


@transaction.atomic
def user_token_revoke(*, actor: User, user: User) -> None:
    """Revoke the person's API token (``Authorization: Token …`` stops working at once)."""
    ensure_allowed(actor, "user.manage")
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is None:
        raise ApplicationError(f"{user.get_username()} has no API token.")
    audit_record(
        actor=actor,
        action="user.token_revoke",
        obj=user,
        before={"token": f"{token.key[:6]}…", "user": user.get_username()},
    )
    token.delete()


@transaction.atomic
def user_password_change(*, user: User, old_password: str, new_password: str) -> User:
    """A person changes their own password (the old one is checked, the new one validated);
    audited without either password."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not user.check_password(old_password or ""):
        raise ApplicationError(
            "Your old password was entered incorrectly.", {"old_password": ["Incorrect."]}
        )
    try:
        password_validation.validate_password(new_password or "", user=user)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), {"new_password2": exc.messages}) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(actor=user, action="user.password_change", obj=user)
    return user
