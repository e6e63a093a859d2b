"""WSGI entry point: ``fraudcases.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcases.settings.local")

application = get_wsgi_application()
