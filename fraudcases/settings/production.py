"""Production: no insecure defaults. Refuses to start unless the environment names every secret
and server it needs (``ImproperlyConfigured`` listing all that is missing or unsafe).

Required: ``SECRET_KEY`` (at least 50 characters, not the repository's local key),
``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` (Redis or RabbitMQ), ``ALLOWED_HOSTS`` (no
``*``) and ``AUDIT_HMAC_KEY`` (at least 32 characters, not the SECRET_KEY). See
docs/deployment.md.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, LOCAL_SECRET_KEY, env

SECRET_KEY_MIN_LENGTH = 50
AUDIT_HMAC_KEY_MIN_LENGTH = 32
BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")


def _required_environment_problems() -> list[str]:
    """Everything wrong with the environment, so one failed start names it all."""
    problems: list[str] = []

    def given(name: str) -> str:
        return os.environ.get(name, "").strip()

    secret = given("SECRET_KEY")
    if not secret:
        problems.append(
            'SECRET_KEY is not set (generate one: python -c "import secrets; '
            'print(secrets.token_urlsafe(64))").'
        )
    elif secret == LOCAL_SECRET_KEY:
        problems.append("SECRET_KEY is the repository's local-only key; generate a new one.")
    elif len(secret) < SECRET_KEY_MIN_LENGTH:
        problems.append(
            f"SECRET_KEY has {len(secret)} characters; at least "
            f"{SECRET_KEY_MIN_LENGTH} are required."
        )
    if not given("DATABASE_URL"):
        problems.append("DATABASE_URL is not set (postgres://user:password@host:5432/name).")
    elif DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL must name a PostgreSQL database (SQLite is for the demo).")
    broker = given("CELERY_BROKER_URL")
    if not broker:
        problems.append("CELERY_BROKER_URL is not set (redis://host:6379/0 or amqp://...).")
    elif not broker.startswith(BROKER_SCHEMES):
        problems.append(
            "CELERY_BROKER_URL must name a Redis or RabbitMQ broker "
            "(the filesystem broker is for the demo)."
        )
    hosts = [h for h in env.list("ALLOWED_HOSTS", default=[]) if h.strip()]
    if not given("ALLOWED_HOSTS") or not hosts:
        problems.append("ALLOWED_HOSTS is not set (comma-separated host names this site serves).")
    elif "*" in hosts:
        problems.append("ALLOWED_HOSTS must list the host names, not '*'.")
    audit_key = given("AUDIT_HMAC_KEY")
    if not audit_key:
        problems.append("AUDIT_HMAC_KEY is not set (the key that signs the audit chain).")
    elif len(audit_key) < AUDIT_HMAC_KEY_MIN_LENGTH:
        problems.append(
            f"AUDIT_HMAC_KEY has {len(audit_key)} characters; at least "
            f"{AUDIT_HMAC_KEY_MIN_LENGTH} are required."
        )
    elif audit_key == secret:
        problems.append("AUDIT_HMAC_KEY must differ from SECRET_KEY.")
    return problems


_problems = _required_environment_problems()
if _problems:
    raise ImproperlyConfigured(
        "Production settings refuse to start:\n  - " + "\n  - ".join(_problems)
    )

SECRET_KEY = env.str("SECRET_KEY").strip()
AUDIT_HMAC_KEY = env.str("AUDIT_HMAC_KEY").strip()
ALLOWED_HOSTS = [h.strip() for h in env.list("ALLOWED_HOSTS") if h.strip()]
DEBUG = False

# HTTPS everywhere: TLS ends at the proxy in front, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]  # probes and scrapers inside the network
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
