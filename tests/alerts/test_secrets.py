"""Channel secrets: Fernet at rest, key rotation, and environment references kept to ALERTS_*."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from alerts.secrets import SecretUnavailableError, secret_decrypt, secret_encrypt
from alerts.services import channel_create, channel_update
from core.errors import ApplicationError


def test_secrets_are_fernet_tokens_readable_after_a_key_rotation(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ALERTS_ENCRYPTION_KEYS = [old]
    token = secret_encrypt("s3cret")
    assert "s3cret" not in token and secret_decrypt(token) == "s3cret"
    settings.ALERTS_ENCRYPTION_KEYS = [new, old]  # rotate: the new key first, the old still read
    assert secret_decrypt(token) == "s3cret"
    assert Fernet(new.encode()).decrypt(secret_encrypt("x").encode()) == b"x"
    settings.ALERTS_ENCRYPTION_KEYS = [new]  # the old key removed: a clear error, not garbage
    with pytest.raises(SecretUnavailableError, match="cannot be decrypted"):
        secret_decrypt(token)


def test_without_keys_the_key_is_derived_from_secret_key(settings):
    settings.ALERTS_ENCRYPTION_KEYS = []
    token = secret_encrypt("s3cret")
    assert secret_decrypt(token) == "s3cret"
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(SecretUnavailableError):
        secret_decrypt(token)


@pytest.mark.django_db
def test_environment_references_must_name_an_alerts_variable(admin_user):
    with pytest.raises(ApplicationError) as refused:
        channel_create(
            actor=admin_user,
            name="leak",
            kind="webhook",
            target="http://127.0.0.1:9/x",
            secret_env="DATABASE_URL",
        )
    assert "secret_env" in refused.value.extra
    channel = channel_create(
        actor=admin_user,
        name="ok",
        kind="webhook",
        target="http://127.0.0.1:9/x",
        secret_env="ALERTS_CORE_SECRET",
    )
    with pytest.raises(ApplicationError):
        channel_update(actor=admin_user, channel=channel, secret_env="SECRET_KEY")
    channel_update(actor=admin_user, channel=channel, secret="typed-in")
    channel.refresh_from_db()
    assert channel.secret_env == "" and secret_decrypt(channel.secret_encrypted) == "typed-in"
