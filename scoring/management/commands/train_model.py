"""``manage.py train_model``: train on the labelled transactions in the database."""

import json

from django.core.management.base import BaseCommand, CommandError

from scoring.ml import train
from scoring.selectors import champion_model, transactions_frame
from scoring.services.registry import model_promote, model_register


class Command(BaseCommand):
    help = "Train a model on labelled transactions, register it and (by default) promote it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-promote", action="store_true", help="Register as a candidate only."
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="Do nothing when a champion already exists."
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, no_promote: bool, if_missing: bool, seed: int, **options):
        if if_missing and (current := champion_model()) is not None:
            self.stdout.write(f"Champion {current.version} exists; nothing to do.")
            return
        frame = transactions_frame()
        self.stdout.write(f"Loaded {len(frame):,} transactions; training…")
        try:
            trained = train(frame, seed=seed)
        except ValueError as exc:
            raise CommandError(
                f"{exc} Generate data with `manage.py generate_transactions` or import labelled "
                "data first."
            ) from exc
        mv = model_register(trained=trained)
        if not no_promote:
            model_promote(model_version=mv)
        s = trained.summary
        self.stdout.write(
            f"Model {mv.version} trained on {s['rows']:,} labelled rows ({s['positives']:,} fraud, "
            f"{s['from'][:10]}..{s['to'][:10]}) in {s['train_seconds']} s; "
            f"{'champion' if not no_promote else 'candidate'}."
        )
        self.stdout.write("Hold-out metrics (latest 20 % by time): " + json.dumps(trained.metrics))
