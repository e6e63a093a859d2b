"""``manage.py create_api_key <name>``: prints the new key alone on its last line."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from scoring.services.apikeys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an external system. The key is shown once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. 'core-banking'.")

    def handle(self, *args, name: str, **options):
        try:
            key, plaintext = api_key_create(name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"API key '{key.name}' created (prefix {key.prefix}). "
            "Store it now; it is not shown again."
        )
        self.stdout.write(plaintext)
