"""``manage.py evaluate_model [--holdout 0.3] [--json]``: back-test on labelled transactions."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from scoring.services.evaluation import evaluation_run

CANDIDATE_LABELS = {
    "ensemble": "behavioural ensemble",
    "raw_booster": "raw-column booster",
    "blend": "blend of both",
}
BASELINES = (
    ("raw_gbm", "baseline: boosting, raw columns"),
    ("isolation_forest", "baseline: IsolationForest (no labels)"),
    ("unsupervised", "novelty path, labels hidden"),
    ("rank_by_amount", "baseline: rank by amount"),
)
METRICS = (
    ("average_precision", "AP"),
    ("roc_auc", "ROC-AUC"),
    ("precision_at_1pct", "P@1%"),
    ("recall_at_1pct", "R@1%"),
    ("precision_at_5pct", "P@5%"),
    ("recall_at_5pct", "R@5%"),
    ("precision_at_budget", "P@budget"),
    ("recall_at_budget", "R@budget"),
)
CONTRACT_KEYS = ("candidate", "raw_gbm", "isolation_forest", "positives", "rows")
JSON_KEYS = (
    *CONTRACT_KEYS,
    "rank_by_amount",
    "unsupervised",
    "selected",
    "candidates",
    "validation",
    "validation_slice",
    "features",
    "metadata_selection",
    "raw_columns",
    "split_at",
)
TOP_FEATURES = 15


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Train the candidates on the earliest part of the labelled transactions (by time) and "
        "select one on a validation slice of that part, score the latest part, compare every "
        "candidate with baselines (raw-column gradient boosting, IsolationForest, the novelty "
        "path without labels, rank by amount) and store the report."
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
        self._selection(report)
        self._table(report)
        self._features(report)
        self._patterns(report)
        self._levels(report)
        if json:
            summary = {k: report[k] for k in JSON_KEYS if k in report}
            self.stdout.write(_dumps(summary))

    def _selection(self, report) -> None:
        selected = report.get("selected", "ensemble")
        slice_ = report.get("validation_slice")
        if slice_:
            self.stdout.write(
                f"Selected: {CANDIDATE_LABELS.get(selected, selected)}, best average precision on "
                f"the validation slice of the training part ({slice_['rows']:,} rows, "
                f"{slice_['positives']:,} fraud, from {slice_['from'][:19]}; the hold-out is "
                "never used to select):"
            )
            for name, row in report.get("validation", {}).items():
                self.stdout.write(
                    f"  {CANDIDATE_LABELS.get(name, name):<22} AP {_fmt(row['average_precision'])}"
                    f"  ROC-AUC {_fmt(row['roc_auc'])}  P@budget {_fmt(row['precision_at_budget'])}"
                    f"  R@budget {_fmt(row['recall_at_budget'])}"
                )
        else:
            self.stdout.write(
                "No validation slice (too few labels or recent frauds): the ensemble serves."
            )

    def _table(self, report) -> None:
        self.stdout.write(
            f"On the hold-out (alert budget {report['candidate'].get('alert_budget', 0.01):.1%}"
            " of rows for P/R@budget):"
        )
        self.stdout.write(f"{'model':<40}" + "".join(f"{label:>9}" for _, label in METRICS))
        rows = [(f"candidate ({report.get('selected', 'ensemble')})", report["candidate"])]
        rows += [
            (f"  {CANDIDATE_LABELS.get(name, name)}", row)
            for name, row in report.get("candidates", {}).items()
        ]
        rows += [(label, report[key]) for key, label in BASELINES if key in report]
        for label, row in rows:
            self.stdout.write(
                f"{label:<40}" + "".join(f"{_fmt(row.get(m)):>9}" for m, _ in METRICS)
            )

    def _features(self, report) -> None:
        features = report.get("features") or []
        if features:
            self.stdout.write(
                f"Features of the selected model ({len(features)}), by permutation importance on "
                f"the hold-out (drop in AP when shuffled; top {min(TOP_FEATURES, len(features))}"
                "; all in --json):"
            )
            for row in features[:TOP_FEATURES]:
                self.stdout.write(f"  {row['name']:<36}{row['importance']:>8.4f}")
        meta = report.get("metadata_selection") or {}
        if meta.get("signal") or meta.get("left_out"):
            kept = [f for f in report.get("candidate_features", []) if f.startswith("meta_")]
            self.stdout.write(
                f"Metadata keys: {len(kept)} used (chosen by {meta.get('by', 'name')})"
                + (f": {', '.join(kept)}" if kept else "")
            )
            for key, why in meta.get("left_out", {}).items():
                self.stdout.write(f"  left out {key}: {why}")

    def _patterns(self, report) -> None:
        patterns = report["candidate"].get("per_pattern", {})
        if patterns:
            self.stdout.write(
                "Candidate per fraud pattern (AP against legitimate rows; recall at 1%/5% and "
                "at the alert budget):"
            )
            for name, row in patterns.items():
                self.stdout.write(
                    f"  {name:<20} n={row['positives']:<5} AP {_fmt(row['average_precision'])} "
                    f"R@1% {_fmt(row['recall_at_1pct'])} R@5% {_fmt(row['recall_at_5pct'])}"
                    f" R@budget {_fmt(row.get('recall_at_budget'))}"
                )

    def _levels(self, report) -> None:
        levels = report["candidate"].get("levels")
        if not levels:
            return
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


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))
