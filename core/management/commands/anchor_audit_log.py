"""``manage.py anchor_audit_log``: append the audit chain's head to the anchor file."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.audit import AnchorRefusedError, AuditKeyError, audit_anchor_write


class Command(BaseCommand):
    help = (
        "Append the audit chain's head (last event id, event count, its MAC, the time), sealed "
        "with the audit key, to AUDIT_ANCHOR_PATH and to the log. Refuses when the head does "
        "not extend the latest anchor."
    )

    def handle(self, *args, **options):
        try:
            anchor = audit_anchor_write()
        except AuditKeyError as exc:
            raise CommandError(f"Audit key problem: {exc}") from exc
        except AnchorRefusedError as exc:
            raise CommandError(f"Not anchored: {exc}.") from exc
        except OSError as exc:
            raise CommandError(
                f"Cannot write the anchor file {settings.AUDIT_ANCHOR_PATH}: {exc}"
            ) from exc
        if anchor is None:
            self.stdout.write(
                "Audit log unchanged since the latest anchor (or empty): nothing new to anchor."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Anchored {anchor.seq} events (head event id {anchor.last_id}) at {anchor.at} "
                f"in {settings.AUDIT_ANCHOR_PATH}."
            )
        )
