"""WSGI entry point: ``fraudcases.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

# Safe by default: a server started without DJANGO_SETTINGS_MODULE runs the production settings
# (which refuse to start without their required environment). The demo selects its own.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcases.settings.production")
os.umask(0o077)  # files this process creates under var/ are private (600/700)

application = get_wsgi_application()
