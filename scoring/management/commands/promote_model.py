"""``manage.py promote_model <version>`` / ``--rollback`` / ``--challenger`` / ``--retire``."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from scoring.models import ModelVersion
from scoring.services.registry import (
    model_make_challenger,
    model_promote,
    model_retire,
    model_rollback,
    version_get,
)

LABEL = "system:promote_model"


class Command(BaseCommand):
    help = (
        "Promote a model version to champion, roll back to the previous champion, make a version "
        "the challenger or retire it. Every change is audited. Without arguments: list versions."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?", help="Model version (see the list).")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--rollback", action="store_true", help="Put the previous champion back.")
        what.add_argument(
            "--challenger", action="store_true", help="Make VERSION the shadow challenger."
        )
        what.add_argument("--retire", action="store_true", help="Retire VERSION.")
        parser.add_argument("--note", default="", help="Why (recorded in the audit log).")

    def handle(self, *args, version, rollback, challenger, retire, note, **options):
        try:
            if rollback:
                if version:
                    raise CommandError("--rollback takes no version: it restores the previous one.")
                mv = model_rollback(actor_label=LABEL, note=note)
                self.stdout.write(f"Rolled back: {mv.version} is the champion again.")
                return
            if not version:
                self._list()
                return
            mv = version_get(version=version)
            if challenger:
                mv = model_make_challenger(model_version=mv, actor_label=LABEL)
                self.stdout.write(f"{mv.version} is now the challenger (scores in shadow).")
            elif retire:
                mv = model_retire(model_version=mv, actor_label=LABEL)
                self.stdout.write(f"{mv.version} is retired.")
            else:
                mv = model_promote(model_version=mv, actor_label=LABEL, note=note)
                self.stdout.write(f"{mv.version} is now the champion.")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _list(self):
        rows = ModelVersion.objects.order_by("-created_at")
        if not rows:
            self.stdout.write("No model versions yet; run `manage.py train_model`.")
        for mv in rows:
            ap = mv.metrics.get("average_precision")
            self.stdout.write(
                f"{mv.version:24} {mv.role:10} created {mv.created_at:%Y-%m-%d %H:%M}"
                + (f"  AP {ap:.3f}" if isinstance(ap, int | float) else "")
            )
