"""Channel secrets: Fernet encryption at rest, or a reference to an environment variable.

The encryption keys come from ``ALERTS_ENCRYPTION_KEYS`` (Fernet keys; the first encrypts, all
decrypt, so keys can be rotated). Without it, one key is derived from ``SECRET_KEY`` with HKDF
(changing ``SECRET_KEY`` then makes stored secrets unreadable: set ``ALERTS_ENCRYPTION_KEYS`` in
production). Environment references are limited to ``ALERTS_*`` names so a channel can never be
pointed at the database URL or the Django secret key.
"""

from __future__ import annotations

import base64
import os
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

ENV_NAME = re.compile(r"^ALERTS_[A-Z0-9_]{1,90}$")


class SecretUnavailableError(Exception):
    """The channel's secret cannot be read (missing variable, wrong or rotated-away key)."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"fraudcases-alerts",
        info=b"channel-secrets-v1",
    )
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def _fernet() -> MultiFernet:
    keys = [k for k in settings.ALERTS_ENCRYPTION_KEYS if k]
    if not keys:
        keys = [_derived_key(settings.SECRET_KEY).decode()]
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except ValueError as exc:
        raise SecretUnavailableError(
            "ALERTS_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def secret_encrypt(plaintext: str) -> str:
    """The Fernet token for ``plaintext`` (with the first key)."""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    """The plaintext of a stored token; :class:`SecretUnavailableError` if no key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnavailableError(
            "The stored secret cannot be decrypted with the current keys (was SECRET_KEY or "
            "ALERTS_ENCRYPTION_KEYS changed?). Enter the secret again."
        ) from exc


def valid_env_name(name: str) -> bool:
    return bool(ENV_NAME.match(name or ""))


def channel_secret(channel) -> str:
    """The channel's secret in plain text, for signing or sending; ``""`` when it has none."""
    if channel.secret_env:
        if not valid_env_name(channel.secret_env):
            raise SecretUnavailableError(f"{channel.secret_env!r} is not an ALERTS_* variable.")
        value = os.environ.get(channel.secret_env, "")
        if not value:
            raise SecretUnavailableError(
                f"The environment variable {channel.secret_env} is not set on this worker."
            )
        return value
    if channel.secret_encrypted:
        return secret_decrypt(channel.secret_encrypted)
    return ""
