"""The product's own generator (``scoring.engine.synthetic.generate_history``), as
``generate_transactions`` stores it by default: 1,500 accounts over 45 days, seed 7."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from scoring.engine.fields import TRANSACTION_FIELDS
from scoring.engine.synthetic import generate_history

from . import DataSet, Mapping

END = datetime(2026, 11, 1, tzinfo=UTC)


def make() -> pd.DataFrame:
    return generate_history(n_accounts=1500, days=45, end=END, seed=7)


_FIELDS = [f for f in TRANSACTION_FIELDS if f != "metadata"]
DATASET = DataSet(
    name="product",
    make=make,
    mapping=Mapping(fields={f: f for f in _FIELDS}, label="is_fraud", pattern="fraud_pattern"),
)
