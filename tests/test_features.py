"""Feature values on a hand-built account history, and the no-leakage guarantee."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.features import FEATURE_NAMES, compute_features

T0 = pd.Timestamp("2026-03-02T09:00:00Z")


def row(i, minutes, amount, merchant="m-1", country="US", lat=40.0, lon=-74.0, account="a", **kw):
    base = {
        "id": i,
        "account_id": account,
        "amount": amount,
        "occurred_at": T0 + pd.Timedelta(minutes=minutes),
        "merchant_id": merchant,
        "merchant_category": "grocery",
        "channel": "pos",
        "country": country,
        "latitude": lat,
        "longitude": lon,
        "device_id": "d-1",
    }
    base.update(kw)
    return base


@pytest.fixture
def history():
    return pd.DataFrame(
        [
            row(1, 0, 10.0),
            row(2, 20, 30.0),
            row(3, 24 * 60 + 10, 20.0),  # next day
            # 10 minutes later, far away, new merchant and country, 5× the average amount
            row(4, 24 * 60 + 20, 100.0, merchant="m-9", country="FR", lat=48.85, lon=2.35),
            row(5, 0, 50.0, account="b", merchant="m-9", country="FR", lat=None, lon=None),
        ]
    )


def test_shape_and_names(history):
    features = compute_features(history)
    assert list(features.columns) == FEATURE_NAMES
    assert list(features.index) == list(history.index)


def test_values_on_hand_built_history(history):
    f = compute_features(history).loc[3]  # transaction 4
    assert f["history_count_30d"] == 3
    assert f["amount_ratio_mean_30d"] == pytest.approx(100 / 20)
    # 10, 30, 20: sample std 10; z = (100 - 20) / max(10, 0.1*20 + 1)
    assert f["amount_zscore_30d"] == pytest.approx(8.0)
    assert f["count_1h"] == 1  # transaction 3, ten minutes earlier
    assert f["count_24h"] == 2  # transactions 2 (23h50 earlier) and 3
    assert f["amount_sum_24h_log"] == pytest.approx(math.log1p(50.0))
    assert f["seconds_since_prev_log"] == pytest.approx(math.log1p(600))
    assert f["new_merchant_30d"] == 1 and f["new_country_30d"] == 1
    assert f["new_device_30d"] == 0 and f["new_category_30d"] == 0
    # New York to Paris: about 5,837 km
    assert f["distance_from_usual_km"] == pytest.approx(5837, rel=0.01)
    hour = 9 + 20 / 60  # 09:20 UTC
    assert f["hour_sin"] == pytest.approx(math.sin(2 * math.pi * hour / 24))
    assert f["hour_share_30d"] == pytest.approx(1.0)


def test_first_transaction_has_no_history(history):
    f = compute_features(history).loc[0]
    assert f["history_count_30d"] == 0 and f["count_1h"] == 0
    assert np.isnan(f["amount_ratio_mean_30d"]) and np.isnan(f["seconds_since_prev_log"])
    assert np.isnan(f["new_merchant_30d"])  # unknown, not "new"


def test_accounts_do_not_mix(history):
    f = compute_features(history).loc[4]  # account b: merchant m-9 seen by account a only
    assert f["history_count_30d"] == 0
    assert np.isnan(f["distance_from_usual_km"])  # no coordinates


def test_window_excludes_rows_older_than_lookback():
    frame = pd.DataFrame([row(1, 0, 10.0), row(2, 31 * 24 * 60, 10.0)])
    f = compute_features(frame).loc[1]
    assert f["history_count_30d"] == 0


def test_no_leakage_from_later_transactions(history):
    """Adding transactions after a row (or reordering the frame) never changes its features."""
    before = compute_features(history)
    later = pd.DataFrame(
        [row(10, 24 * 60 + 21, 5000.0, merchant="m-x"), row(11, 24 * 60 + 25, 1.0, country="BR")]
    )
    extended = pd.concat([later, history.iloc[::-1]], ignore_index=False)
    extended.index = [100, 101, *history.index[::-1]]
    after = compute_features(extended).loc[history.index]
    pd.testing.assert_frame_equal(before, after)


def test_same_instant_ties_are_ordered_by_id():
    frame = pd.DataFrame([row(2, 0, 10.0), row(1, 0, 10.0)])
    f = compute_features(frame)
    assert f.loc[1, "history_count_30d"] == 0  # id 1 comes first
    assert f.loc[0, "history_count_30d"] == 1


def test_empty_frame():
    assert compute_features(pd.DataFrame(columns=["id"])).empty


def test_features_do_not_depend_on_the_order_rows_arrive_in(synthetic_history):
    """The database may return a batch's history in any physical order (PostgreSQL does after
    updates): the features of every row must be the same, bit for bit."""
    frame = synthetic_history.drop(columns=["is_fraud", "fraud_pattern"], errors="ignore")
    expected = compute_features(frame)
    shuffled = frame.sample(frac=1.0, random_state=3)
    got = compute_features(shuffled).loc[expected.index]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
