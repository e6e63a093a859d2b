"""``manage.py verify_audit_log``: walk the audit hash chain and report the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from fraudcases.audit import audit_verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exits non-zero at the first tampered row."

    def handle(self, *args, **options):
        report = audit_verify_chain()
        if not report.ok:
            raise CommandError(
                f"Audit log broken at event id {report.broken_id} after {report.checked} good "
                f"events: {report.reason}."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Audit log intact: {report.checked} events verified.")
        )
