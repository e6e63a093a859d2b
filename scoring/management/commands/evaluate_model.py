"""``manage.py evaluate_model [--holdout 0.3] [--json]``: back-test on labelled transactions."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from scoring.services.evaluation import evaluation_run

MODELS = (
    ("candidate", "candidate (ensemble)"),
    ("raw_gbm", "gradient boosting, raw columns"),
    ("isolation_forest", "IsolationForest alone"),
    ("rank_by_amount", "rank by amount"),
)
METRICS = (
    ("average_precision", "AP"),
    ("roc_auc", "ROC-AUC"),
    ("precision_at_1pct", "P@1%"),
    ("recall_at_1pct", "R@1%"),
    ("precision_at_5pct", "P@5%"),
    ("recall_at_5pct", "R@5%"),
)
CONTRACT_KEYS = ("candidate", "raw_gbm", "isolation_forest", "positives", "rows")


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Train a fresh candidate on the earliest part of the labelled transactions (by time), "
        "score the latest part, compare with baselines (raw-column gradient boosting, "
        "IsolationForest alone, rank by amount) and store the report."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--holdout", type=float, default=0.3, help="Latest share held out (default 0.3)."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--json", action="store_true", help="Print the metrics as one JSON object last."
        )

    def handle(self, *args, holdout: float, seed: int, json: bool, **options):
        if not 0 < holdout < 1:
            raise CommandError("--holdout must be between 0 and 1 (e.g. 0.3).")
        try:
            stored = evaluation_run(holdout=holdout, seed=seed)
        except ValueError as exc:
            raise CommandError(
                f"{exc} Import labelled data (import_transactions --label-column) or generate "
                "some (generate_transactions) first."
            ) from exc
        report = stored.report
        self.stdout.write(
            f"Hold-out: latest {holdout:.0%} of labelled transactions from {report['split_at']} "
            f"({report['rows']:,} rows, {report['positives']:,} fraud); trained on "
            f"{report['train_rows']:,} earlier rows ({report['train_positives']:,} fraud). "
            f"Report #{stored.pk} stored."
        )
        if report.get("skipped"):
            self.stdout.write(
                "Skipped rows it cannot use: "
                + "; ".join(f"{n:,} ({why})" for why, n in report["skipped"].items())
            )
        header = f"{'model':<34}" + "".join(f"{label:>9}" for _, label in METRICS)
        self.stdout.write(header)
        for key, label in MODELS:
            row = report[key]
            self.stdout.write(f"{label:<34}" + "".join(f"{_fmt(row[m]):>9}" for m, _ in METRICS))
        patterns = report["candidate"].get("per_pattern", {})
        if patterns:
            self.stdout.write(
                "Candidate per fraud pattern (AP against legitimate rows; recall at 1%/5%):"
            )
            for name, row in patterns.items():
                self.stdout.write(
                    f"  {name:<20} n={row['positives']:<5} AP {_fmt(row['average_precision'])} "
                    f"R@1% {_fmt(row['recall_at_1pct'])} R@5% {_fmt(row['recall_at_5pct'])}"
                )
        levels = report["candidate"].get("levels")
        if levels:
            how = (
                "alert-budget levels calibrated at training"
                if report["candidate"].get("levels_from") == "alert_budget"
                else "fixed cut-offs 40/70/90 (the candidate has no calibration)"
            )
            self.stdout.write(f"Candidate per risk level on the hold-out ({how}):")
            self.stdout.write(
                f"  {'level':<9}{'rows':>9}{'share':>9}{'fraud':>7}{'prec.':>8}{'expected':>9}"
                f"{'recall':>8}{'prec.≥':>8}{'recall≥':>8}"
            )
            for name in ("critical", "high", "medium", "low"):
                row = levels[name]
                self.stdout.write(
                    f"  {name:<9}{row['rows']:>9,}{row['share']:>8.3%} {row['fraud']:>6,}"
                    f"{_fmt(row['precision']):>8}{_fmt(row.get('expected_precision')):>9}"
                    f"{_fmt(row['recall']):>8}{_fmt(row['precision_at_or_above']):>8}"
                    f"{_fmt(row['recall_at_or_above']):>8}"
                )
        if json:
            summary = {k: report[k] for k in CONTRACT_KEYS}
            summary["rank_by_amount"] = report["rank_by_amount"]
            self.stdout.write(_dumps(summary))


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))
