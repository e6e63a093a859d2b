"""``manage.py generate_transactions``: seeded synthetic labelled history with fraud patterns."""

from datetime import UTC, datetime

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from scoring.engine.fields import LABEL_FIELDS, TRANSACTION_FIELDS
from scoring.engine.synthetic import generate_history
from scoring.models import Transaction
from scoring.schema import validate_transactions
from scoring.services.ingest import transactions_store

CHUNK = 5000


def frame_to_items(frame) -> list[dict]:
    """Rows of a synthetic frame, validated by the ingestion validator like any other input, as
    model-field dicts with their labels. Raises ``BatchValidationError`` if the generator ever
    produced a row the API would refuse."""
    records = frame.replace({np.nan: None}).to_dict("records")
    sent = [
        {
            **{k: r[k] for k in TRANSACTION_FIELDS if r.get(k) is not None},
            "amount": f"{r['amount']:.2f}",
            "occurred_at": r["occurred_at"].to_pydatetime(),
        }
        for r in records
    ]
    items = validate_transactions(sent)
    for item, r in zip(items, records, strict=True):
        item.update({k: r[k] for k in LABEL_FIELDS if r.get(k) is not None})
        item["is_fraud"] = bool(item["is_fraud"]) if "is_fraud" in item else None
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
            try:
                result = transactions_store(
                    items=frame_to_items(frame.iloc[start : start + CHUNK]),
                    source=Transaction.Source.SYNTHETIC,
                    mode="history",
                )
            except ApplicationError as exc:
                first = next(iter(exc.extra.get("errors", {}).items()), None)
                raise CommandError(f"{exc.message} First: {first}") from exc
            accepted += result.accepted
            duplicates += result.duplicates
        patterns = frame.loc[frame["is_fraud"] == 1, "fraud_pattern"].value_counts().to_dict()
        self.stdout.write(
            f"Generated {len(frame):,} transactions for {accounts:,} accounts over {days} days "
            f"({fraud:,} fraud: {patterns}); stored {accepted:,}, already present {duplicates:,}."
        )
