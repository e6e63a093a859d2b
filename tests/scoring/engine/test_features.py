"""The features (scoring.engine.features): values on hand-built account histories (amount
against history, velocity windows, novelty and travel, habits, fraud rates, metadata), the
worker window, and the no-leakage guarantee."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.engine.features import (
    FEATURE_NAMES,
    LABEL_DELAY,
    LOOKBACK,
    RATE_FEATURES,
    RATE_SMOOTHING,
    REFERENCE_AMOUNT_FEATURES,
    compute_features,
    compute_training_features,
    feature_spec,
    select_metadata_keys,
)

T0 = pd.Timestamp("2026-03-02T09:00:00Z")  # a Monday


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


# --- Detection families on a habit history -----------------------------------------------------


def txn(i, minutes, amount, account="a", **kw):
    base = {
        "id": i,
        "account_id": account,
        "amount": amount,
        "occurred_at": T0 + pd.Timedelta(minutes=minutes),
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "channel": "pos",
        "country": "US",
        "latitude": 40.0,
        "longitude": -74.0,
        "device_id": "d-1",
    }
    base.update(kw)
    return base


DAY = 24 * 60


@pytest.fixture
def habit_history():
    return pd.DataFrame(
        [
            txn(1, 0, 10.0),
            txn(2, 60, 30.0),
            txn(3, DAY, 20.0),
            txn(4, 2 * DAY, 40.0),
            # Three minutes later: Paris, new merchant and country, 10× the median (25).
            txn(
                5,
                2 * DAY + 3,
                250.0,
                merchant_id="m-9",
                country="FR",
                latitude=48.85,
                longitude=2.35,
            ),
            # Five minutes later again: Brazil, another new country.
            txn(
                6,
                2 * DAY + 8,
                5.0,
                merchant_id="m-8",
                country="BR",
                latitude=-23.55,
                longitude=-46.63,
            ),
        ]
    )


def test_amount_against_the_accounts_history(habit_history):
    f = compute_features(habit_history).loc[4]  # transaction 5
    assert f["amount_ratio_median_30d"] == pytest.approx(250 / 25)  # median of 10, 30, 20, 40
    assert f["amount_percentile_30d"] == 1.0  # above all four earlier amounts
    assert f["amount_ratio_max_30d"] == pytest.approx(250 / 40)
    small = compute_features(habit_history).loc[5]  # 5.0 below everything before it
    assert small["amount_percentile_30d"] == 0.0


def test_velocity_windows(habit_history):
    f = compute_features(habit_history).loc[5]  # transaction 6, 2 days + 8 min
    assert f["count_10m"] == 2  # transactions 4 (8 min earlier) and 5 (5 min earlier)
    assert f["count_1h"] == 2
    assert f["count_24h"] == 2  # transaction 3 is 24 h 8 min earlier
    assert f["count_7d"] == 5
    assert f["amount_sum_10m_log"] == pytest.approx(math.log1p(40 + 250))
    assert compute_features(habit_history).loc[4, "count_10m"] == 1
    assert f["amount_sum_7d_log"] == pytest.approx(math.log1p(10 + 30 + 20 + 40 + 250))
    # (2 + 1) / (5 / 30 + 1)
    assert f["count_24h_vs_usual"] == pytest.approx(3 / (5 / 30 + 1))


def test_novelty_counts_and_travel(habit_history):
    f = compute_features(habit_history)
    assert f.loc[4, "new_country_30d"] == 1 and f.loc[4, "new_countries_24h"] == 1
    assert f.loc[5, "new_country_30d"] == 1 and f.loc[5, "new_countries_24h"] == 2  # 2nd in 24 h
    assert f.loc[5, "new_merchants_24h"] == 2
    # Paris to Sao Paulo (about 9,400 km) in five minutes
    assert f.loc[5, "distance_from_prev_km"] == pytest.approx(9400, rel=0.02)
    assert f.loc[5, "speed_from_prev_kmh"] == pytest.approx(
        f.loc[5, "distance_from_prev_km"] / (5 / 60)
    )
    assert f.loc[3, "distance_from_prev_km"] == pytest.approx(0.0)


def test_time_of_day_and_weekday_habits(habit_history):
    f = compute_features(habit_history)
    # Transaction 4 (Wednesday 09:00): history at 09:00, 10:00 (Monday) and 09:00 (Tuesday).
    assert f.loc[3, "weekday_share_30d"] == 0.0
    assert f.loc[3, "hour_distance_from_usual"] == pytest.approx(1 / 3, abs=0.01)
    night = pd.concat(
        [habit_history.iloc[:4], pd.DataFrame([txn(9, 2 * DAY + 15 * 60, 20.0)])], ignore_index=True
    )
    g = compute_features(night).loc[4]  # 00:00 Thursday; usual time about 09:15
    assert g["hour_distance_from_usual"] == pytest.approx(9.25, abs=0.05)
    assert g["hour_share_30d"] == 0.0


def test_gap_beyond_the_lookback_is_unknown_like_in_the_worker():
    frame = pd.DataFrame([txn(1, 0, 10.0), txn(2, 31 * DAY, 10.0)])
    f = compute_features(frame).loc[1]
    assert np.isnan(f["seconds_since_prev_log"]) and np.isnan(f["distance_from_prev_km"])


def test_worker_window_computes_what_training_computed(synthetic_history):
    """Features of a batch from only ``LOOKBACK`` of history equal those from all history."""
    frame = synthetic_history
    full = compute_features(frame)
    batch = frame[frame["occurred_at"] >= frame["occurred_at"].max() - pd.Timedelta(hours=6)]
    window = frame[frame["occurred_at"] >= batch["occurred_at"].min() - LOOKBACK]
    windowed = compute_features(window).loc[batch.index]
    pd.testing.assert_frame_equal(full.loc[batch.index], windowed)


# --- learned fraud rates --------------------------------------------------------------------


def labelled_frame() -> pd.DataFrame:
    rows = []
    for i in range(40):
        rows.append(
            txn(
                i + 1,
                i * DAY,
                20.0,
                account=f"acc-{i % 4}",
                merchant_id="m-bad" if i % 2 else "m-ok",
                is_fraud=1 if i % 4 == 1 else 0,
            )
        )
    return pd.DataFrame(rows)


def test_rates_see_only_labels_known_before_the_row():
    frame = labelled_frame()
    spec = feature_spec(frame)
    assert set(RATE_FEATURES) <= set(spec["feature_names"])
    features, _ = compute_training_features(frame, spec)
    delay_days = LABEL_DELAY.days
    # Row at day 20 (id 21, m-ok): known labels are those of days 0..12 (7-day delay, strict).
    row = features.loc[20]
    known = frame[frame["occurred_at"] + LABEL_DELAY < frame.loc[20, "occurred_at"]]
    prior = known["is_fraud"].mean()
    mine = known[known["merchant_id"] == "m-ok"]
    expected = (mine["is_fraud"].sum() + RATE_SMOOTHING * prior) / (len(mine) + RATE_SMOOTHING)
    assert len(known) == 20 - delay_days
    assert row["merchant_fraud_rate"] == pytest.approx(expected)
    # Nothing known yet in the first week: no rate at all.
    assert np.isnan(features.loc[0, "merchant_fraud_rate"])
    assert np.isnan(features.loc[delay_days, "merchant_fraud_rate"])


def test_later_labels_never_change_earlier_features():
    """The leakage guard: flipping every label from day 25 on leaves days 0..32 untouched."""
    frame = labelled_frame()
    spec = feature_spec(frame)
    before, _ = compute_training_features(frame, spec)
    flipped = frame.copy()
    later = flipped["occurred_at"] >= T0 + pd.Timedelta(days=25)
    flipped.loc[later, "is_fraud"] = 1 - flipped.loc[later, "is_fraud"]
    after, _ = compute_training_features(flipped, spec)
    untouched = frame["occurred_at"] <= T0 + pd.Timedelta(days=25) + LABEL_DELAY
    pd.testing.assert_frame_equal(before[untouched], after[untouched])
    assert not before[~untouched].equals(after[~untouched])


def test_scoring_uses_the_frozen_table_and_ignores_labels_in_the_frame():
    frame = labelled_frame()
    spec = feature_spec(frame)
    artifact = {"feature_names": spec["feature_names"], "feature_spec": spec}
    scored = compute_features(frame, artifact=artifact)
    relabelled = frame.assign(is_fraud=1)
    pd.testing.assert_frame_equal(scored, compute_features(relabelled, artifact=artifact))
    table = spec["rates"]["tables"]["merchant_fraud_rate"]
    assert scored.loc[1, "merchant_fraud_rate"] == pytest.approx(table["m-bad"])
    unseen = frame.iloc[[0]].assign(merchant_id="m-new")
    prior = spec["rates"]["prior"]
    assert compute_features(unseen, artifact=artifact).iloc[0]["merchant_fraud_rate"] == prior
    assert list(scored.columns) == spec["feature_names"]


def test_without_labels_there_are_no_rate_features():
    frame = labelled_frame().drop(columns=["is_fraud"])
    assert feature_spec(frame)["feature_names"] == [*FEATURE_NAMES, *REFERENCE_AMOUNT_FEATURES]


# --- partner metadata -----------------------------------------------------------------------


def metadata_frame() -> pd.DataFrame:
    rows = []
    for i in range(60):
        account = f"acc-{i % 3}"
        rows.append(
            txn(
                i + 1,
                i * 60,
                20.0,
                account=account,
                metadata={
                    "Device Score": (i * 7) % 11,  # varies: a transaction attribute
                    "home_zip": 10000 + i % 3,  # constant per account: identifies the customer
                    "epoch": 1_700_000_000 + i * 3600,  # a clock
                    "note": "x",  # not a number
                    "approved": i % 2 == 0,  # booleans count as numbers
                },
            )
        )
    return pd.DataFrame(rows)


def test_metadata_keys_exclude_customer_attributes_and_clocks():
    assert select_metadata_keys(metadata_frame()) == {
        "Device Score": "meta_device_score",
        "approved": "meta_approved",
    }


def test_metadata_features_come_from_the_artifact_key_list():
    frame = metadata_frame()
    spec = feature_spec(frame)
    assert spec["feature_names"][-2:] == ["meta_device_score", "meta_approved"]
    artifact = {"feature_names": spec["feature_names"], "feature_spec": spec}
    features = compute_features(frame, artifact=artifact)
    assert features.loc[3, "meta_device_score"] == (3 * 7) % 11
    assert features.loc[3, "meta_approved"] == 0.0
    # A row without the key, or with a non-number, is NaN rather than an error.
    odd = frame.iloc[[0, 1]].copy()
    odd["metadata"] = [{}, {"Device Score": "high"}]
    assert compute_features(odd, artifact=artifact)["meta_device_score"].isna().all()


def test_an_artifact_without_a_feature_spec_gets_its_own_columns(habit_history):
    """Models trained before rates and metadata existed keep scoring with their feature list."""
    old = {"feature_names": ["amount_log", "count_1h", "new_country_30d"]}
    features = compute_features(habit_history, artifact=old)
    assert list(features.columns) == old["feature_names"]
    pd.testing.assert_frame_equal(features, compute_features(habit_history)[old["feature_names"]])
