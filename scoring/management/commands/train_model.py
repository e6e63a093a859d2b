"""``manage.py train_model``: train on synthetic + labelled history and register the model.

The first model becomes the champion; later ones become the challenger (scoring in shadow)
unless ``--promote`` makes them the champion or ``--no-promote`` keeps them as a candidate.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from scoring.selectors import champion_model
from scoring.services.registry import model_train


class Command(BaseCommand):
    help = (
        "Train a model on labelled transactions (generator labels, imported labels and closed "
        "cases' dispositions) and register it: champion if there is none, else challenger."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group()
        what.add_argument(
            "--promote", action="store_true", help="Make it the champion (the old one retires)."
        )
        what.add_argument(
            "--no-promote", action="store_true", help="Register it as a candidate only."
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="Do nothing when a champion already exists."
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, promote: bool, no_promote: bool, if_missing: bool, seed: int, **opts):
        if if_missing and (current := champion_model()) is not None:
            self.stdout.write(f"Champion {current.version} exists; nothing to do.")
            return
        policy = "promote" if promote else "candidate" if no_promote else "auto"
        self.stdout.write("Loading labelled history and training…")
        try:
            outcome = model_train(seed=seed, policy=policy, actor_label="system:train_model")
        except ValueError as exc:
            raise CommandError(
                f"{exc} Generate data with `manage.py generate_transactions` or import labelled "
                "data first."
            ) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        mv, s = outcome.model_version, outcome.trained.summary
        self.stdout.write(
            f"Model {mv.version} trained on {s['rows']:,} labelled rows ({s['positives']:,} fraud, "
            f"{s['from'][:10]}..{s['to'][:10]}) in {s['train_seconds']} s; now {outcome.role}."
        )
        if s.get("skipped"):
            self.stdout.write(
                "Skipped rows it cannot use: "
                + "; ".join(f"{n:,} ({why})" for why, n in s["skipped"].items())
            )
        metrics = outcome.trained.metrics
        self._selection(s)
        self.stdout.write("Validation metrics (latest share by time): " + json.dumps(metrics))
        if outcome.role == "challenger":
            self.stdout.write(
                "It scores live traffic in shadow; compare it on /models/ and promote it with "
                f"`manage.py promote_model {mv.version}`."
            )

    def _selection(self, summary: dict) -> None:
        """Which candidate serves, and every candidate's validation figures."""
        selection = summary.get("selection", {})
        validation = selection.get("validation")
        if not validation:
            self.stdout.write(selection.get("reason", "The ensemble serves."))
            return
        self.stdout.write(
            f"Selected {selection['selected']} on the validation slice ({validation['rows']:,} "
            f"rows, {validation['positives']:,} fraud, from {validation['from'][:19]}):"
        )
        for name, entry in selection["candidates"].items():
            row = entry.get("validation") or {}
            self.stdout.write(
                f"  {name:<12} AP {row.get('average_precision') or 0:.3f}  "
                f"ROC-AUC {row.get('roc_auc') or 0:.3f}  "
                f"P@{row.get('alert_budget', 0):.1%} {row.get('precision_at_budget', 0):.3f}  "
                f"R@{row.get('alert_budget', 0):.1%} {row.get('recall_at_budget', 0):.3f}"
            )
        meta = summary.get("metadata_features") or []
        by = summary.get("metadata_selection", {}).get("by", "name")
        if meta:
            self.stdout.write(f"Metadata features ({len(meta)}, by {by}): {', '.join(meta)}")
