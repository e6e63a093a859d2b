"""API keys for external systems: created once (shown once), stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import ApplicationError
from core.permissions import ensure_allowed
from core.recent import RecentlyRead

from ..models import ApiKey

KEY_PREFIX = "fck"
# A key's row is read at most this often per process (every API request needs it): a rename or
# revocation takes effect at once in the process that made it (post_save) and within this many
# seconds in every other web process.
KEY_MAX_AGE = 1.0
# Keys by prefix, found or not: bounded, since the prefix comes from the request.
recent_keys = RecentlyRead[ApiKey | None](
    senders=(ApiKey,), uid="scoring.apikeys.recent_keys", max_items=256
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, name: str, actor=None) -> tuple[ApiKey, str]:
    """Create a key; return the row and the plaintext key (never stored, shown once)."""
    name = name.strip()
    if not name:
        raise ApplicationError("An API key needs a name.", {"name": ["This field is required."]})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secret}"
    key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=_hash(plaintext), created_by=actor
    )
    audit_record(
        action="apikey.create", actor=actor, obj=key, after={"name": name, "prefix": prefix}
    )
    return key, plaintext


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    """Revoke a key; requests with it are refused from now on. ``actor`` None is the command
    line (``manage.py``); a person needs ``apikey.manage``."""
    if actor is not None:
        ensure_allowed(actor, "apikey.manage")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(action="apikey.revoke", actor=actor, obj=key, after={"prefix": key.prefix})
    return key


@transaction.atomic
def api_key_rename(*, key: ApiKey, actor, name: str) -> ApiKey:
    """Rename a key (admins). The name labels its audit events (``api:<name>``) from now on, so
    the change is audited with the old and the new name."""
    ensure_allowed(actor, "apikey.manage")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError(
            "An API key needs a name (at most 100 characters).", {"name": ["1–100 characters."]}
        )
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.name != name:
        before = {"name": key.name}
        key.name = name
        key.save(update_fields=["name"])
        audit_record(
            action="apikey.rename", actor=actor, obj=key, before=before, after={"name": name}
        )
    return key


def api_key_lookup(*, plaintext: str, max_age: float = KEY_MAX_AGE) -> ApiKey | None:
    """The active or revoked key matching ``plaintext``, or None. Constant-time comparison of
    the hash, every call; the row itself read at most ``max_age`` seconds ago (shared between
    requests: treat it as read-only)."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    prefix = parts[1]
    key = recent_keys.get(
        prefix, max_age=max_age, read=lambda: ApiKey.objects.filter(prefix=prefix).first()
    )
    if key is None or not secrets.compare_digest(key.key_hash, _hash(plaintext)):
        return None
    return key
