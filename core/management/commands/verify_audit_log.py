"""``manage.py verify_audit_log``: check the keyed audit chain against every anchor."""

from django.core.management.base import BaseCommand, CommandError

from core.audit import AuditKeyError, audit_check_run


class Command(BaseCommand):
    help = (
        "Verify the audit log: every event's position, link and HMAC, and the chain against "
        "every anchor in AUDIT_ANCHOR_PATH. Exits non-zero naming what was altered or removed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-anchors",
            action="store_true",
            help="Check the rows only (removal of the newest rows then goes unnoticed).",
        )

    def handle(self, *args, **options):
        try:
            check = audit_check_run(anchors=not options["no_anchors"])
        except AuditKeyError as exc:
            raise CommandError(f"Audit key problem: {exc}") from exc
        if not check.ok:
            raise CommandError(
                f"Audit log NOT intact ({check.checked} events verified before the first "
                f"problem): {check.reason}."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {check.reason}."))
