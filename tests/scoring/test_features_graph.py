"""Peer features on hand-built histories: the amount against the merchant's and the category's
earlier payments, and accounts linked through a shared device, counterparty or merchant."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.engine.features import (
    FEATURE_FAMILIES,
    FEATURE_NAMES,
    LINK_FEATURES,
    PEER_AMOUNT_FEATURES,
    PEER_CAP,
    PEER_FAMILIES,
    PEER_FEATURE_NAMES,
    compute_features,
    compute_peer_features,
    serving_history_mask,
)

T0 = pd.Timestamp("2026-03-02T09:00:00Z")


def txn(i, minutes, amount=20.0, account="a", **kw):
    base = {
        "id": i,
        "account_id": account,
        "amount": amount,
        "occurred_at": T0 + pd.Timedelta(minutes=minutes),
        "merchant_id": f"m-{i}",
        "merchant_category": f"cat-{i}",
        "channel": "ecom",
        "country": "US",
        "device_id": "",
        "counterparty_id": "",
    }
    base.update(kw)
    return base


def features(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    both = pd.concat([compute_features(frame), compute_peer_features(frame)], axis=1)
    return both.set_axis([r["id"] for r in rows])


def test_the_families_make_the_feature_list():
    assert [n for family in FEATURE_FAMILIES.values() for n in family] == FEATURE_NAMES
    assert PEER_FAMILIES["peer_amount"] == PEER_AMOUNT_FEATURES
    assert PEER_FAMILIES["links"] == LINK_FEATURES
    assert [n for family in PEER_FAMILIES.values() for n in family] == PEER_FEATURE_NAMES
    everything = [*FEATURE_NAMES, *PEER_FEATURE_NAMES]
    assert len(set(everything)) == len(everything)
    # Not in the model until the worker's history loads other accounts' rows (PEER_FAMILIES).
    assert not set(PEER_FEATURE_NAMES) & set(FEATURE_NAMES)


def test_five_accounts_on_one_device_make_a_ring_of_five():
    rows = [txn(i, 10 * i, account=f"acc-{i}", device_id="phone") for i in range(1, 6)]
    f = features(rows)
    assert f["device_accounts_24h"].tolist() == [0, 1, 2, 3, 4]
    assert f["ring_size_24h"].tolist() == [1, 2, 3, 4, 5]
    assert f["counterparty_accounts_24h"].isna().all()  # no counterparty: unknown, not zero


def test_the_same_account_on_its_own_device_is_no_link():
    rows = [txn(i, 10 * i, device_id="phone") for i in range(1, 5)]
    f = features(rows)
    assert (f["device_accounts_24h"] == 0).all() and (f["ring_size_24h"] == 1).all()


def test_links_older_than_a_day_do_not_count():
    rows = [
        txn(1, 0, account="x", device_id="phone"),
        txn(2, 24 * 60 + 1, account="y", device_id="phone"),
        txn(3, 24 * 60 + 2, account="z", device_id="phone"),
    ]
    f = features(rows)
    assert f.loc[2, "device_accounts_24h"] == 0  # x was 24 h 1 min earlier
    assert f.loc[3, "device_accounts_24h"] == 1
    assert f.loc[3, "ring_size_24h"] == 2


def test_counterparty_fan_in_and_fan_out():
    rows = [
        txn(1, 0, account="a", counterparty_id="mule"),
        txn(2, 5, account="a", counterparty_id="mule"),  # a repeat, not another account
        txn(3, 10, account="b", counterparty_id="mule"),
        txn(4, 20, account="c", counterparty_id="mule"),
        txn(5, 30, account="c", counterparty_id="cp-2"),
        txn(6, 40, account="c", counterparty_id="cp-3"),
        txn(7, 50, account="c"),
    ]
    f = features(rows)
    assert f["counterparty_accounts_24h"].tolist()[:6] == [0, 0, 1, 2, 0, 0]
    assert np.isnan(f.loc[7, "counterparty_accounts_24h"])
    assert f["account_counterparties_24h"].tolist() == [1, 1, 1, 1, 2, 3, 3]


def test_ring_size_carries_over_to_the_accounts_later_payments():
    """c shared a counterparty with a and b; its later payment without one is still in the ring."""
    rows = [
        txn(1, 0, account="a", counterparty_id="mule"),
        txn(2, 10, account="b", counterparty_id="mule"),
        txn(3, 20, account="c", counterparty_id="mule"),
        txn(4, 60, account="c"),
        txn(5, 60 * 25, account="c"),  # a day after its last link
    ]
    f = features(rows)
    assert f["ring_size_24h"].tolist() == [1, 2, 3, 3, 1]


def test_a_device_and_a_counterparty_link_different_accounts():
    rows = [
        txn(1, 0, account="a", device_id="phone"),
        txn(2, 5, account="b", counterparty_id="mule"),
        txn(3, 10, account="c", device_id="phone", counterparty_id="mule"),
    ]
    f = features(rows).loc[3]
    assert (f["device_accounts_24h"], f["counterparty_accounts_24h"]) == (1, 1)
    assert f["ring_size_24h"] == 3


def test_accounts_at_the_same_merchant_within_an_hour():
    rows = [
        txn(1, 0, account="a", merchant_id="shop"),
        txn(2, 30, account="b", merchant_id="shop"),
        txn(3, 40, account="b", merchant_id="shop"),
        txn(4, 61, account="c", merchant_id="shop"),
    ]
    f = features(rows)
    assert f["merchant_accounts_1h"].tolist() == [0, 1, 1, 1]  # at 61 min only b is in the hour


def test_amount_against_the_merchants_earlier_payments():
    earlier = [10.0, 20.0, 30.0, 40.0]
    rows = [
        txn(i + 1, i, amount, account=f"acc-{i}", merchant_id="shop", merchant_category="tv")
        for i, amount in enumerate(earlier)
    ]
    rows.append(txn(9, 10, 280.0, account="z", merchant_id="shop", merchant_category="tv"))
    f = features(rows)
    last = f.loc[9]
    assert last["merchant_amount_ratio_median"] == pytest.approx(280 / 25)
    assert last["merchant_amount_percentile"] == 1.0
    logs = np.log1p(earlier)
    centre = (logs[1] + logs[2]) / 2
    mad = np.median(np.abs(logs - centre))
    assert last["merchant_amount_zscore"] == pytest.approx(
        (math.log1p(280) - centre) / (1.4826 * mad)
    )
    # The same payments are the category's history here.
    assert last["category_amount_ratio_median"] == pytest.approx(280 / 25)
    # Fewer than three earlier payments: no figures.
    assert f.loc[[1, 2, 3], "merchant_amount_ratio_median"].isna().all()
    assert f.loc[4, "merchant_amount_ratio_median"] == pytest.approx(40 / 20)
    assert f.loc[4, "merchant_amount_percentile"] == 1.0


def test_category_amounts_span_merchants_and_ties_count_half():
    rows = [
        txn(1, 0, 50.0, merchant_id="m-a", merchant_category="grocery"),
        txn(2, 1, 50.0, merchant_id="m-b", merchant_category="grocery"),
        txn(3, 2, 50.0, merchant_id="m-c", merchant_category="grocery"),
        txn(4, 3, 50.0, merchant_id="m-d", merchant_category="grocery"),
    ]
    last = features(rows).loc[4]
    assert last["category_amount_ratio_median"] == 1.0
    assert last["category_amount_percentile"] == 0.5
    assert last["category_amount_zscore"] == 0.0  # one fixed price: the spread floor, not 0/0
    assert np.isnan(last["merchant_amount_ratio_median"])


def test_only_the_last_peer_cap_payments_count():
    old = [txn(i, i, 1000.0, account=f"o-{i}", merchant_id="shop") for i in range(1, 11)]
    recent = [
        txn(100 + i, 20 + i, 10.0, account=f"r-{i}", merchant_id="shop") for i in range(PEER_CAP)
    ]
    rows = [*old, *recent, txn(999, 200, 10.0, account="z", merchant_id="shop")]
    assert features(rows).loc[999, "merchant_amount_ratio_median"] == 1.0


def test_a_later_transaction_never_changes_earlier_features():
    rows = [
        txn(1, 0, 10.0, account="a", merchant_id="shop", device_id="phone"),
        txn(2, 5, 20.0, account="b", merchant_id="shop", counterparty_id="mule"),
        txn(3, 9, 30.0, account="c", merchant_id="shop", device_id="phone"),
        txn(4, 12, 40.0, account="d", merchant_id="shop", counterparty_id="mule"),
    ]
    before = features(rows)
    later = [
        txn(5, 13, 5000.0, account="e", merchant_id="shop", device_id="phone"),
        txn(6, 13, 7.0, account="f", merchant_id="shop", counterparty_id="mule"),
    ]
    after = features(rows + later)
    pd.testing.assert_frame_equal(after.loc[before.index], before, check_exact=True)
    assert after.loc[5, "device_accounts_24h"] == 2
    assert after.loc[6, "counterparty_accounts_24h"] == 2


def test_same_instant_rows_are_ordered_by_id():
    rows = [
        txn(2, 0, account="b", device_id="phone"),
        txn(1, 0, account="a", device_id="phone"),
    ]
    f = features(rows)
    assert (f.loc[1, "device_accounts_24h"], f.loc[2, "device_accounts_24h"]) == (0, 1)


@pytest.mark.parametrize("where", ["last_ring", "last_hours"])
def test_the_serving_history_gives_the_features_of_all_history(synthetic_history, where):
    """Live scoring loads only ``serving_history_mask``: the batch's features must not change."""
    frame = synthetic_history.drop(columns=["is_fraud", "fraud_pattern"])
    at = frame["occurred_at"]
    if where == "last_ring":
        ring = synthetic_history.loc[synthetic_history["fraud_pattern"] == "collusion_ring"]
        centre = ring["occurred_at"].iloc[-1]
        batch = frame.index[(at >= centre - pd.Timedelta(hours=2)) & (at <= centre)]
    else:
        batch = frame.index[at >= at.max() - pd.Timedelta(hours=3)]
    mask = serving_history_mask(frame, batch)
    assert len(batch) < mask.sum() < len(frame)
    full = pd.concat([compute_features(frame), compute_peer_features(frame)], axis=1).loc[batch]
    served = frame[mask]
    served = pd.concat([compute_features(served), compute_peer_features(served)], axis=1)
    served = served.loc[batch]
    # Account window sums are prefix-sum differences (equal to rounding); peer figures exactly.
    pd.testing.assert_frame_equal(served, full)
    peer = [*PEER_AMOUNT_FEATURES, *LINK_FEATURES]
    pd.testing.assert_frame_equal(served[peer], full[peer], check_exact=True)
    if where == "last_ring":
        assert (full["counterparty_accounts_24h"] >= 1).any()
