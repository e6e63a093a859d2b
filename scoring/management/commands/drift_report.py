"""``manage.py drift_report``: population stability of features and score, now vs reference."""

import json
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring.services.drift import drift_report_create


class Command(BaseCommand):
    help = (
        "Compare the scored transactions of the last hours with the days before (PSI per feature "
        "and for the score), store the report and alert above the threshold."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--end", help="End of the current window (ISO 8601 with zone); default now."
        )
        parser.add_argument("--hours", type=int, default=settings.DRIFT_CURRENT_HOURS)
        parser.add_argument("--reference-days", type=int, default=settings.DRIFT_REFERENCE_DAYS)
        parser.add_argument("--threshold", type=float, default=settings.DRIFT_PSI_THRESHOLD)
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print the report as JSON last."
        )

    def handle(
        self, *args, end, hours, reference_days, threshold, as_json: bool = False, **options
    ):
        end_at = None
        if end:
            try:
                end_at = datetime.fromisoformat(end)
            except ValueError as exc:
                raise CommandError(f"--end {end!r} is not an ISO 8601 date-time.") from exc
            if end_at.tzinfo is None:
                raise CommandError("--end needs a time zone, e.g. 2026-06-01T00:00:00+00:00.")
        if hours <= 0 or reference_days <= 0:
            raise CommandError("--hours and --reference-days must be positive.")
        if threshold <= 0:
            raise CommandError("--threshold must be positive.")
        report = drift_report_create(
            end=end_at, current_hours=hours, reference_days=reference_days, threshold=threshold
        )
        fmt = "%Y-%m-%d %H:%M"
        self.stdout.write(
            f"Reference {report.reference_start:{fmt}}..{report.reference_end:{fmt}}, "
            f"current ..{report.current_end:{fmt}} UTC."
        )
        if not report.feature_psi and report.score_psi is None:
            self.stdout.write(
                f"Not enough scored transactions in one of the windows (need "
                f"{settings.DRIFT_MIN_ROWS} each); nothing compared."
            )
        else:
            self.stdout.write(f"Score PSI: {report.score_psi}")
            top = sorted(report.feature_psi.items(), key=lambda kv: -kv[1])[:10]
            for name, value in top:
                flag = "  <-- drift" if value > report.threshold else ""
                self.stdout.write(f"  {name:32} {value:8.4f}{flag}")
        self.stdout.write(
            self.style.WARNING(f"ALERT: drift above {report.threshold}.")
            if report.alert
            else f"No drift above {report.threshold}."
        )
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "id": report.pk,
                        "alert": report.alert,
                        "score_psi": report.score_psi,
                        "feature_psi": report.feature_psi,
                        "threshold": report.threshold,
                    }
                )
            )
