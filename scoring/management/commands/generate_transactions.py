"""``manage.py generate_transactions``: seeded synthetic labelled history with fraud patterns."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from scoring.models import Transaction
from scoring.services.ingest import transactions_ingest
from scoring.synthetic import COLUMNS, generate_history

MODEL_FIELDS = [c for c in COLUMNS if c not in ("is_fraud",)]
CHUNK = 5000


def frame_to_items(frame) -> list[dict]:
    """Rows of a synthetic frame as model-field dicts (Decimal money, None for missing)."""
    records = frame.replace({np.nan: None}).to_dict("records")
    items = []
    for r in records:
        item = {k: r[k] for k in MODEL_FIELDS if r.get(k) is not None}
        item["amount"] = Decimal(f"{r['amount']:.2f}")
        item["occurred_at"] = r["occurred_at"].to_pydatetime()
        item["is_fraud"] = bool(r["is_fraud"])
        items.append(item)
    return items


class Command(BaseCommand):
    help = (
        "Generate labelled synthetic transactions (card testing, account takeover, velocity "
        "bursts, unusual amount, unusual time, new geography, collusion rings) into the database "
        "as history, or into a CSV file with --output."
    )

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=1500)
        parser.add_argument("--days", type=int, default=45)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--end", help="ISO date-time the history ends at (default: now, UTC).", default=None
        )
        parser.add_argument("--output", help="Write a CSV file instead of the database.")

    def handle(self, *args, accounts: int, days: int, seed: int, end: str | None, output, **opts):
        if accounts < 1 or days < 1:
            raise CommandError("--accounts and --days must be at least 1.")
        try:
            end_at = datetime.fromisoformat(end) if end else datetime.now(UTC)
        except ValueError as exc:
            raise CommandError(f"--end: {exc}") from exc
        if end_at.tzinfo is None:
            raise CommandError("--end needs a time zone, e.g. 2026-11-01T00:00:00+00:00.")
        frame = generate_history(n_accounts=accounts, days=days, end=end_at, seed=seed)
        fraud = int(frame["is_fraud"].sum())
        if output:
            frame.to_csv(output, index=False)
            self.stdout.write(f"Wrote {len(frame):,} transactions ({fraud:,} fraud) to {output}.")
            return
        accepted = duplicates = 0
        for start in range(0, len(frame), CHUNK):
            result = transactions_ingest(
                items=frame_to_items(frame.iloc[start : start + CHUNK]),
                source=Transaction.Source.SYNTHETIC,
                mode="history",
            )
            accepted += result.accepted
            duplicates += result.duplicates
        patterns = frame.loc[frame["is_fraud"] == 1, "fraud_pattern"].value_counts().to_dict()
        self.stdout.write(
            f"Generated {len(frame):,} transactions for {accounts:,} accounts over {days} days "
            f"({fraud:,} fraud: {patterns}); stored {accepted:,}, already present {duplicates:,}."
        )
