"""``manage.py seed_demo``: roles, demo users, a feed API key, history and a first model.

Idempotent: a second run finds everything in place and changes nothing.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from alerts.services.demo import alerts_demo_setup
from alerts.services.dispatch import alerts_history_skip
from core.permissions import ADMIN, INVESTIGATOR, ROLES, SUPERVISOR
from fraudcases.management.demo_history import demo_case_history_seed
from fraudcases.services.routing import routing_demo_setup
from scoring.models import ApiKey, Transaction
from scoring.selectors import champion_model
from scoring.services.apikeys import api_key_create

FEED_KEY_NAME = "demo-feed"


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def demo_password() -> tuple[str, bool]:
    """DEMO_PASSWORD, or a generated one kept in var/ so later runs print the same."""
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"], False
    path = settings.VAR_DIR / "demo-password"
    if path.exists():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(9)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password, True


def seed_case_history(*, password: str, stdout) -> int:
    """Thirty days of worked cases (opened, escalated, closed, approved, quality-reviewed) so
    every dashboard chart has data on first start; how the history is produced, and which
    timestamps are moved, is in ``fraudcases.management.demo_history`` (insight)."""
    return demo_case_history_seed(password=password, stdout=stdout)


class Command(BaseCommand):
    help = "Create roles, demo users, the demo feed's API key, synthetic history and a model."

    def add_arguments(self, parser):
        # Enough accounts that the demo feed's ~2 transactions a second stay ordinary for each.
        parser.add_argument("--accounts", type=int, default=3000)
        parser.add_argument("--days", type=int, default=30)

    def handle(self, *args, accounts: int, days: int, **options):
        ensure_role_groups()
        password, generated = demo_password()
        User = get_user_model()
        for role in ROLES:
            user, created = User.objects.get_or_create(
                username=role, defaults={"email": f"{role}@example.test"}
            )
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = role == ADMIN
                user.save()
                user.groups.add(Group.objects.get(name=role))
                self.stdout.write(f"Created user '{role}'.")

        key_file = settings.FEED_API_KEY_FILE
        if (
            not key_file.exists()
            or not ApiKey.objects.filter(name=FEED_KEY_NAME, revoked_at__isnull=True).exists()
        ):
            _, plaintext = api_key_create(name=FEED_KEY_NAME)
            key_file.write_text(plaintext + "\n")
            key_file.chmod(0o600)
            self.stdout.write(f"Created API key '{FEED_KEY_NAME}' (stored in {key_file}).")

        if not Transaction.objects.exists():
            call_command("generate_transactions", accounts=accounts, days=days, stdout=self.stdout)
        if champion_model() is None:
            call_command("train_model", stdout=self.stdout)

        seeded = seed_case_history(password=password, stdout=self.stdout)
        admin = User.objects.get(username=ADMIN)
        if seeded:
            # The seeded history happened "in the past": it must not flood the demo's channels
            # with alerts for cases closed weeks ago. Alerting starts with the live feed.
            skipped = alerts_history_skip(actor=admin, reason="Seeded demo history: no alerts.")
            self.stdout.write(f"Alerts start after the seeded history ({skipped} events skipped).")
        for created in alerts_demo_setup(actor=admin):
            self.stdout.write(f"Created {created}.")
        workers = [User.objects.get(username=role) for role in (INVESTIGATOR, SUPERVISOR)]
        for created in routing_demo_setup(actor=admin, members=workers):
            self.stdout.write(f"Created {created}.")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(
            f"Logins: {', '.join(ROLES)} / password: {password}"
            + (" (generated; set DEMO_PASSWORD to choose)" if generated else "")
        )
