"""Card payments with only PCA-anonymised features (the shape of the public "credit card fraud"
set of ULB): ``Time`` (seconds from the first row, two days), ``V1``..``V28``, ``Amount``,
``Class``; no card, merchant or place. Seeded.

Thirty hidden attributes, correlated, are drawn per payment; fraud (~0.4 %) shifts some of them
and changes how others interact; the table holds their principal components only, ordered by
variance, as the public set does. Every component may carry some of the signal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import DataSet, Mapping

SEED = 31
ROWS = 80_000
FRAUD_SHARE = 0.004
HIDDEN = 30
COMPONENTS = 28


def make(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fraud = rng.random(ROWS) < FRAUD_SHARE
    mixing = rng.normal(0, 1, (HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)
    scales = np.linspace(3, 0.3, HIDDEN)
    hidden = rng.normal(0, 1, (ROWS, HIDDEN)) * scales
    shift = np.zeros(HIDDEN)
    shift[rng.choice(HIDDEN, 8, replace=False)] = rng.choice([-1, 1], 8) * rng.uniform(0.6, 1.4, 8)
    k = int(fraud.sum())
    hidden[fraud] += shift * scales + rng.normal(0, 0.5, (k, HIDDEN)) * scales
    # An interaction: for fraud, two attributes move together.
    hidden[fraud, 3] = 0.8 * hidden[fraud, 7] + rng.normal(0, 0.3, k) * scales[3]
    observed = hidden @ mixing
    centred = observed - observed.mean(axis=0)
    _, _, vt = np.linalg.svd(centred[~fraud][:20_000], full_matrices=False)
    components = centred @ vt[:COMPONENTS].T
    amount = np.where(
        fraud,
        np.where(rng.random(ROWS) < 0.5, rng.uniform(1, 5, ROWS), rng.lognormal(5, 1.2, ROWS)),
        rng.lognormal(3.5, 1.2, ROWS),
    )
    daily = np.clip(rng.normal(14, 4.5, ROWS), 0, 23.99)
    hour = np.where(fraud, rng.uniform(0, 24, ROWS), daily)
    seconds = rng.integers(0, 2, ROWS) * 86_400 + (hour * 3600).astype(int)
    table = pd.DataFrame(components.round(6), columns=[f"V{i}" for i in range(1, COMPONENTS + 1)])
    table.insert(0, "Time", seconds)
    table["Amount"] = amount.round(2).clip(1.0)
    table["Class"] = fraud.astype(int)
    return table.sort_values("Time", kind="stable").reset_index(drop=True)


DATASET = DataSet(
    name="pca_cards",
    make=make,
    mapping=Mapping(
        fields={"account_id": ":all", "amount": "Amount", "occurred_at": "Time"},
        label="Class",
        time=("offset", "s", "2025-09-01T00:00:00Z"),
        notes="add: --map account_id=:all --time-format offset:s:2025-09-01T00:00:00Z",
    ),
)
