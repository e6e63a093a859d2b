"""Helpers for tests that load the synthetic history into the database."""

from __future__ import annotations

import pandas as pd

from scoring.management.commands.generate_transactions import frame_to_items
from scoring.models import Transaction
from scoring.services.ingest import transactions_store

RECENT_DAYS = 3


def split_history(
    frame: pd.DataFrame, days: int = RECENT_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older history, the last ``days`` days) of a synthetic frame."""
    cut = frame["occurred_at"].max() - pd.Timedelta(days=days)
    return frame[frame["occurred_at"] < cut], frame[frame["occurred_at"] >= cut]


def load_history(frame: pd.DataFrame) -> int:
    """Store rows as imported history (labelled, not scored live)."""
    items = frame_to_items(frame.drop(columns=["id"], errors="ignore"))
    return transactions_store(
        items=items, source=Transaction.Source.SYNTHETIC, mode="history"
    ).accepted


def api_items(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready API payload items (no labels)."""
    items = []
    for item in frame_to_items(frame.drop(columns=["id"], errors="ignore")):
        item.pop("is_fraud", None)
        item.pop("fraud_pattern", None)
        item["amount"] = str(item["amount"])
        item["occurred_at"] = item["occurred_at"].isoformat()
        items.append(item)
    return items
