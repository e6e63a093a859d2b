"""The amount against the account's own level (``REFERENCE_AMOUNT_FEATURES``): the usual amounts
frozen at training (``amount_tables``), the level read from the account's earlier rows only, the
worker window, and the words of the reason."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.engine import features as features_module
from scoring.engine.explain import REASONS, describe
from scoring.engine.features import (
    FEATURE_NAMES,
    LOOKBACK,
    MIN_LEVEL_SPREAD,
    MIN_LOG_SPREAD,
    REFERENCE_AMOUNT_FEATURES,
    REFERENCE_MIN_ROWS,
    REFERENCE_SHRINKAGE,
    amount_tables,
    compute_features,
    compute_training_features,
    feature_spec,
)

T0 = pd.Timestamp("2026-03-02T09:00:00Z")
SPREAD = 0.5
TABLES = {
    "overall": {"median": math.log1p(30.0), "spread": SPREAD},
    "categories": {
        "grocery": {"median": math.log1p(20.0), "spread": SPREAD},
        "electronics": {"median": math.log1p(300.0), "spread": SPREAD},
    },
    "merchants": {},
}


def txn(i, hours, amount, category="grocery", account="a", merchant=None, **kw):
    return {
        "id": i,
        "account_id": account,
        "amount": amount,
        "occurred_at": T0 + pd.Timedelta(hours=hours),
        "merchant_id": merchant or f"m-{category}",
        "merchant_category": category,
        "channel": "pos",
        "country": "US",
        **kw,
    }


def with_tables(frame: pd.DataFrame, tables: dict) -> pd.DataFrame:
    spec = {
        "feature_names": [*FEATURE_NAMES, *REFERENCE_AMOUNT_FEATURES],
        "rates": {"prior": None, "tables": {}},
        "metadata_keys": {},
        "amounts": tables,
    }
    return compute_features(
        frame, artifact={"feature_names": spec["feature_names"], "feature_spec": spec}
    )


def test_a_big_ticket_category_at_the_accounts_level_is_not_unusual():
    """An account that pays twice the usual grocery amount is expected to pay about twice the
    usual electronics amount too: a 600 laptop is at its level, a 6,000 one is ten times it,
    although both are many times its median payment."""
    frame = pd.DataFrame(
        [
            txn(1, 0, 40.0),
            txn(2, 24, 40.0),
            txn(3, 48, 40.0),
            txn(4, 72, 600.0, "electronics"),
            txn(5, 96, 6000.0, "electronics"),
        ]
    )
    f = with_tables(frame, TABLES)
    # The account's level: log1p(40) over log1p(20), in category spreads.
    level = (math.log1p(40.0) - math.log1p(20.0)) / SPREAD
    own_usual = math.expm1(math.log1p(300.0) + level * SPREAD)
    assert f.loc[3, "amount_ratio_own_level"] == pytest.approx(600.0 / own_usual)
    assert f.loc[3, "amount_ratio_own_level"] == pytest.approx(1.02, abs=0.01)
    assert f.loc[3, "amount_ratio_median_30d"] == pytest.approx(15.0)
    # Three identical levels have no spread: the gap is measured in the floor's units.
    residual = (math.log1p(600.0) - math.log1p(300.0)) / SPREAD
    assert f.loc[3, "amount_own_level_z"] == pytest.approx((residual - level) / MIN_LEVEL_SPREAD)
    assert f.loc[4, "amount_ratio_own_level"] > 8
    assert f.loc[4, "amount_own_level_z"] > f.loc[3, "amount_own_level_z"] + 5


def test_the_level_needs_earlier_rows_and_the_spread_two():
    frame = pd.DataFrame([txn(1, 0, 40.0), txn(2, 1, 40.0), txn(3, 2, 80.0)])
    f = with_tables(frame, TABLES)
    assert f.loc[0, REFERENCE_AMOUNT_FEATURES].isna().all()
    assert f.loc[1, "amount_ratio_own_level"] == pytest.approx(1.0)
    assert np.isnan(f.loc[1, "amount_own_level_z"])
    assert not np.isnan(f.loc[2, "amount_own_level_z"])


def test_the_level_reads_the_accounts_own_rows_of_the_lookback_only():
    days = LOOKBACK.days
    frame = pd.DataFrame(
        [
            txn(1, 0, 400.0),  # far outside the look-back by the last row
            txn(2, 0, 20.0, account="b"),
            txn(3, 24 * (days + 2), 20.0),
            txn(4, 24 * (days + 3), 40.0),
        ]
    )
    f = with_tables(frame, TABLES)
    # Only the payment of 20 is inside the look-back: level 0, so its usual grocery amount is 20.
    assert f.loc[3, "amount_ratio_own_level"] == pytest.approx(40.0 / 20.0)
    # Another account's cheap payment never lowers this one's level.
    alone = with_tables(frame.drop(index=1), TABLES)
    assert alone.loc[3, "amount_ratio_own_level"] == f.loc[3, "amount_ratio_own_level"]


def test_a_merchant_without_a_usual_amount_is_judged_by_its_category():
    frame = pd.DataFrame([txn(1, 0, 20.0), txn(2, 1, 40.0, merchant="m-known")])
    known = {**TABLES, "merchants": {"m-known": math.log1p(40.0)}}
    f = with_tables(frame, known)
    # At its usual price at that merchant: level 0 there, against a level of 0 from grocery.
    assert f.loc[1, "amount_ratio_own_level"] == pytest.approx(1.0)
    assert with_tables(frame, TABLES).loc[1, "amount_ratio_own_level"] == pytest.approx(2.0)


def test_amount_tables_read_no_label_and_shrink_quiet_merchants():
    rows = [txn(i, i, 20.0, merchant="m-busy") for i in range(1, 31)]
    rows += [txn(100 + i, i, 80.0, merchant="m-dear") for i in range(REFERENCE_MIN_ROWS)]
    rows += [txn(200 + i, i, 5.0, merchant="m-rare") for i in range(REFERENCE_MIN_ROWS - 1)]
    rows += [txn(300 + i, i, 900.0, "electronics", is_fraud=1) for i in range(3)]
    frame = pd.DataFrame(rows)
    tables = amount_tables(frame.assign(is_fraud=frame.get("is_fraud", 0)))
    assert tables == amount_tables(frame.assign(is_fraud=1))
    grocery = tables["categories"]["grocery"]
    amounts = pd.Series(
        [20.0] * 30 + [80.0] * REFERENCE_MIN_ROWS + [5.0] * (REFERENCE_MIN_ROWS - 1)
    )
    assert grocery["median"] == pytest.approx(float(np.log1p(amounts).median()))
    assert tables["categories"]["electronics"]["spread"] == MIN_LOG_SPREAD  # one price
    n = REFERENCE_MIN_ROWS
    shrunk = (n * math.log1p(80.0) + REFERENCE_SHRINKAGE * grocery["median"]) / (
        n + REFERENCE_SHRINKAGE
    )
    assert tables["merchants"]["m-dear"] == pytest.approx(shrunk)
    assert "m-rare" not in tables["merchants"]  # too few payments for a usual amount of its own
    assert set(tables["merchants"]) == {"m-busy", "m-dear"}


def test_only_the_busiest_merchants_are_kept(monkeypatch):
    monkeypatch.setattr(features_module, "MAX_REFERENCE_MERCHANTS", 1)
    rows = [txn(i, i, 20.0, merchant="m-busy") for i in range(1, 31)]
    rows += [txn(100 + i, i, 80.0, merchant="m-less") for i in range(REFERENCE_MIN_ROWS)]
    assert set(amount_tables(pd.DataFrame(rows))["merchants"]) == {"m-busy"}


def test_training_and_the_worker_window_compute_the_same_levels(synthetic_history):
    """Training's features, scoring's on all history and scoring's on only the ``LOOKBACK`` a
    worker loads are the same for a batch."""
    frame = synthetic_history
    spec = feature_spec(frame)
    assert spec["feature_names"][-len(REFERENCE_AMOUNT_FEATURES) :] == REFERENCE_AMOUNT_FEATURES
    artifact = {"feature_names": spec["feature_names"], "feature_spec": spec}
    trained, _ = compute_training_features(frame, spec)
    full = compute_features(frame.drop(columns=["is_fraud"]), artifact=artifact)
    batch = frame[frame["occurred_at"] >= frame["occurred_at"].max() - pd.Timedelta(hours=6)]
    window = frame[frame["occurred_at"] >= batch["occurred_at"].min() - LOOKBACK]
    windowed = compute_features(window, artifact=artifact).loc[batch.index]
    columns = REFERENCE_AMOUNT_FEATURES
    pd.testing.assert_frame_equal(trained.loc[batch.index, columns], full.loc[batch.index, columns])
    pd.testing.assert_frame_equal(full.loc[batch.index, columns], windowed[columns])
    assert full[columns].notna().mean().min() > 0.9


def test_the_reason_says_how_far_above_the_accounts_level_the_amount_is():
    reason = next(r for r in REASONS if r.code == "amount_unusual")
    assert set(REFERENCE_AMOUNT_FEATURES) <= set(reason.features)
    raw = pd.Series({"amount": 6000.0, "merchant_category": "electronics"})
    row = pd.Series(
        {
            "amount_ratio_median_30d": 150.0,
            "amount_ratio_max_30d": 2.0,
            "amount_ratio_own_level": 10.0,
        }
    )
    assert describe(reason, row, raw) == (
        "150× this account's median (6,000.00 vs 40.00), its largest in 30 days; "
        "10× what it usually pays for electronics (6,000.00 vs 600.00)"
    )
    at_level = row.copy()
    at_level["amount_ratio_own_level"] = 1.1
    assert "usually pays" not in describe(reason, at_level, raw)
