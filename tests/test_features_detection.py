"""Detection features on hand-built histories: amount vs history, velocity windows, habits,
novelty counts, travel speed, learned fraud rates (no label leakage), partner metadata."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.features import (
    FEATURE_NAMES,
    LABEL_DELAY,
    LOOKBACK,
    RATE_FEATURES,
    RATE_SMOOTHING,
    compute_features,
    compute_training_features,
    feature_spec,
    select_metadata_keys,
)

T0 = pd.Timestamp("2026-03-02T09:00:00Z")  # a Monday


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
def history():
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


def test_amount_against_the_accounts_history(history):
    f = compute_features(history).loc[4]  # transaction 5
    assert f["amount_ratio_median_30d"] == pytest.approx(250 / 25)  # median of 10, 30, 20, 40
    assert f["amount_percentile_30d"] == 1.0  # above all four earlier amounts
    assert f["amount_ratio_max_30d"] == pytest.approx(250 / 40)
    small = compute_features(history).loc[5]  # 5.0 below everything before it
    assert small["amount_percentile_30d"] == 0.0


def test_velocity_windows(history):
    f = compute_features(history).loc[5]  # transaction 6, 2 days + 8 min
    assert f["count_10m"] == 2  # transactions 4 (8 min earlier) and 5 (5 min earlier)
    assert f["count_1h"] == 2
    assert f["count_24h"] == 2  # transaction 3 is 24 h 8 min earlier
    assert f["count_7d"] == 5
    assert f["amount_sum_10m_log"] == pytest.approx(math.log1p(40 + 250))
    assert compute_features(history).loc[4, "count_10m"] == 1
    assert f["amount_sum_7d_log"] == pytest.approx(math.log1p(10 + 30 + 20 + 40 + 250))
    # (2 + 1) / (5 / 30 + 1)
    assert f["count_24h_vs_usual"] == pytest.approx(3 / (5 / 30 + 1))


def test_novelty_counts_and_travel(history):
    f = compute_features(history)
    assert f.loc[4, "new_country_30d"] == 1 and f.loc[4, "new_countries_24h"] == 1
    assert f.loc[5, "new_country_30d"] == 1 and f.loc[5, "new_countries_24h"] == 2  # 2nd in 24 h
    assert f.loc[5, "new_merchants_24h"] == 2
    # Paris to Sao Paulo (about 9,400 km) in five minutes
    assert f.loc[5, "distance_from_prev_km"] == pytest.approx(9400, rel=0.02)
    assert f.loc[5, "speed_from_prev_kmh"] == pytest.approx(
        f.loc[5, "distance_from_prev_km"] / (5 / 60)
    )
    assert f.loc[3, "distance_from_prev_km"] == pytest.approx(0.0)


def test_time_of_day_and_weekday_habits(history):
    f = compute_features(history)
    # Transaction 4 (Wednesday 09:00): history at 09:00, 10:00 (Monday) and 09:00 (Tuesday).
    assert f.loc[3, "weekday_share_30d"] == 0.0
    assert f.loc[3, "hour_distance_from_usual"] == pytest.approx(1 / 3, abs=0.01)
    night = pd.concat(
        [history.iloc[:4], pd.DataFrame([txn(9, 2 * DAY + 15 * 60, 20.0)])], ignore_index=True
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
    assert feature_spec(frame)["feature_names"] == FEATURE_NAMES


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


def test_an_artifact_without_a_feature_spec_gets_its_own_columns(history):
    """Models trained before rates and metadata existed keep scoring with their feature list."""
    old = {"feature_names": ["amount_log", "count_1h", "new_country_30d"]}
    features = compute_features(history, artifact=old)
    assert list(features.columns) == old["feature_names"]
    pd.testing.assert_frame_equal(features, compute_features(history)[old["feature_names"]])
