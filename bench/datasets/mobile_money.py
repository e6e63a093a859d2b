"""Synthetic mobile-money transfers in the shape of PaySim (Lopez-Rojas et al.), seeded.

One row per transfer, hourly ``step``s over 30 days, five types (PAYMENT, CASH_OUT, CASH_IN,
TRANSFER, DEBIT), the sender's and receiver's balances before and after. Senders are drawn from
a large population, so most accounts appear once (the behavioural history is nearly empty and
the balances carry the signal). Fraud (~0.6 % of rows): a takeover empties the victim's balance
with a TRANSFER to a mule, and the mule takes it out with a CASH_OUT of the same amount soon
after; half of the mule transfers leave the receiver's balances at zero, as in PaySim. Some
legitimate transfers also empty the sender's account, so "emptied" alone is not fraud.

Columns: ``step, type, amount, nameOrig, oldbalanceOrg, newbalanceOrig, nameDest,
oldbalanceDest, newbalanceDest, isFraud, isFlaggedFraud``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import DataSet, Mapping

SEED = 21
ROWS = 60_000
STEPS = 30 * 24
SENDERS = 400_000
FRAUD_PAIRS = 180
TYPES = {"PAYMENT": 0.35, "CASH_OUT": 0.33, "CASH_IN": 0.2, "TRANSFER": 0.1, "DEBIT": 0.02}
TYPICAL = {"PAYMENT": 60, "CASH_OUT": 900, "CASH_IN": 700, "TRANSFER": 2500, "DEBIT": 150}


def make(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = ROWS - 2 * FRAUD_PAIRS
    kind = rng.choice(list(TYPES), n, p=list(TYPES.values()))
    hour = np.clip(rng.normal(14, 4, n), 0, 23.99).astype(int)
    step = rng.integers(0, STEPS // 24, n) * 24 + hour
    amount = np.array([TYPICAL[k] for k in kind]) * rng.lognormal(0, 0.9, n)
    old_org = rng.lognormal(7.5, 1.5, n) * rng.choice([0, 1], n, p=[0.25, 0.75])
    emptied = (kind == "TRANSFER") & (rng.random(n) < 0.08)
    amount = np.where(emptied, np.maximum(old_org, 1.0), amount)
    incoming = kind == "CASH_IN"
    new_org = np.where(incoming, old_org + amount, np.maximum(old_org - amount, 0))
    merchant = kind == "PAYMENT"
    dest = np.where(
        merchant,
        [f"M{i:07d}" for i in rng.integers(0, 20_000, n)],
        [f"C{i:09d}" for i in rng.integers(0, SENDERS, n)],
    )
    old_dest = np.where(merchant, 0.0, rng.lognormal(8, 1.6, n))
    new_dest = np.where(merchant, 0.0, old_dest + np.where(incoming, -amount, amount).clip(0))
    legit = pd.DataFrame(
        {
            "step": step,
            "type": kind,
            "amount": amount,
            "nameOrig": [f"C{i:09d}" for i in rng.integers(0, SENDERS, n)],
            "oldbalanceOrg": old_org,
            "newbalanceOrig": new_org,
            "nameDest": dest,
            "oldbalanceDest": old_dest,
            "newbalanceDest": new_dest,
            "isFraud": 0,
        }
    )

    k = FRAUD_PAIRS
    balance = rng.lognormal(9, 1.4, k).clip(50, 2_000_000)
    start = rng.integers(0, STEPS - 3, k)  # at any hour: fraud does not keep office hours
    mule = [f"C{i:09d}" for i in rng.integers(SENDERS, 2 * SENDERS, k)]
    zeroed = rng.random(k) < 0.5
    mule_old = np.where(zeroed, 0.0, rng.lognormal(6, 1.5, k))
    transfer = pd.DataFrame(
        {
            "step": start,
            "type": "TRANSFER",
            "amount": balance,
            "nameOrig": [f"C{i:09d}" for i in rng.integers(0, SENDERS, k)],
            "oldbalanceOrg": balance,
            "newbalanceOrig": 0.0,
            "nameDest": mule,
            "oldbalanceDest": mule_old,
            "newbalanceDest": np.where(zeroed, 0.0, mule_old + balance),
            "isFraud": 1,
        }
    )
    cash_out = pd.DataFrame(
        {
            "step": start + rng.integers(0, 3, k),
            "type": "CASH_OUT",
            "amount": balance,
            "nameOrig": mule,
            "oldbalanceOrg": np.where(zeroed, 0.0, mule_old + balance),
            "newbalanceOrig": np.where(zeroed, 0.0, mule_old),
            "nameDest": [f"C{i:09d}" for i in rng.integers(0, SENDERS, k)],
            "oldbalanceDest": rng.lognormal(8, 1.6, k),
            "newbalanceDest": 0.0,
            "isFraud": 1,
        }
    )
    cash_out["newbalanceDest"] = cash_out["oldbalanceDest"] + balance
    table = pd.concat([legit, transfer, cash_out], ignore_index=True)
    table["amount"] = table["amount"].clip(lower=1.0)
    for column in ("amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest"):
        table[column] = table[column].round(2)
    table["isFlaggedFraud"] = ((table["type"] == "TRANSFER") & (table["amount"] > 200_000)).astype(
        int
    )
    return table.sort_values("step", kind="stable").reset_index(drop=True)


DATASET = DataSet(
    name="mobile_money",
    make=make,
    mapping=Mapping(
        fields={
            "account_id": "nameOrig",
            "counterparty_id": "nameDest",
            "merchant_category": "type",
            "amount": "amount",
            "occurred_at": "step",
        },
        label="isFraud",
        time=("offset", "h", "2025-03-01T00:00:00Z"),
        notes="add: --time-format offset:h:2025-03-01T00:00:00Z",
    ),
)
