"""Local development and ``make demo``: embedded defaults from ``base``, DEBUG off.

The demo behaves like a deployment (styled 403/404/500 pages, no tracebacks in the browser, static
files from whitenoise); set ``DEBUG=true`` for Django's debug pages while developing.
"""

from core.logging import logging_config

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=False)
# Serve static files straight from the apps too, so a checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Human-readable log lines in the demo's terminal (LOG_FORMAT=json for JSON lines; obs).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
