"""The shared Sparkov card sample (read in place; see ``/work/shared/data/README.md``).

Mapped as the README's ``import_transactions`` example does: card → account, merchant
coordinates → latitude/longitude, the cardholder's name, address and birth date dropped; home
coordinates, city population and ``unix_time`` stay in ``metadata``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import DataSet, Mapping

PATH = Path(os.environ.get("SPARKOV_CSV", "/work/shared/data/sparkov-cards.csv"))


def make() -> pd.DataFrame:
    return pd.read_csv(PATH, dtype={"cc_num": str, "zip": str})


DATASET = DataSet(
    name="sparkov",
    make=make,
    mapping=Mapping(
        fields={
            "account_id": "cc_num",
            "external_id": "trans_num",
            "amount": "amt",
            "occurred_at": "trans_date_trans_time",
            "merchant_id": "merchant",
            "merchant_category": "category",
            "latitude": "merch_lat",
            "longitude": "merch_long",
            "currency": ":USD",
        },
        label="is_fraud",
        drop=("first", "last", "street", "city", "state", "zip", "dob", "job"),
    ),
)
