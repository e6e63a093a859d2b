"""The reason words of the peer features: observed values against the merchant, the category and
the accounts linked to this one; and every feature sits in exactly one reason group."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from scoring.engine.explain import REASON_LABELS, REASONS, describe, explain
from scoring.engine.features import (
    FEATURE_NAMES,
    LINK_FEATURES,
    PEER_AMOUNT_FEATURES,
    PEER_FEATURE_NAMES,
    compute_features,
)
from scoring.engine.ml import predict_proba

BY_CODE = {r.code: r for r in REASONS}


def words(code: str, raw: dict, **features: float) -> str | None:
    row = pd.Series({name: np.nan for name in FEATURE_NAMES} | features)
    return describe(BY_CODE[code], row, pd.Series(raw))


def test_the_peer_families_are_the_reason_groups():
    counts = Counter(name for reason in REASONS for name in reason.features)
    assert max(counts.values()) == 1  # no feature is occluded by two reasons
    assert all(counts[name] == 1 for name in [*PEER_AMOUNT_FEATURES, *LINK_FEATURES])
    assert BY_CODE["peer_amount"].features == tuple(PEER_AMOUNT_FEATURES)
    assert BY_CODE["linked_accounts"].features == tuple(LINK_FEATURES)
    assert REASON_LABELS["peer_amount"] == "Unusual amount for the merchant"
    assert REASON_LABELS["linked_accounts"] == "Linked accounts"


def test_amount_against_the_merchant_and_the_category():
    raw = {"amount": 1400.0, "merchant_id": "m-7", "merchant_category": "electronics"}
    assert words(
        "peer_amount",
        raw,
        merchant_amount_ratio_median=14.0,
        merchant_amount_percentile=0.97,
        category_amount_ratio_median=8.0,
    ) == (
        "14× this merchant's median (1,400.00 vs 100.00), above 97% of its recent payments; "
        "8.0× the median electronics payment (1,400.00 vs 175.00)"
    )
    # A merchant without enough history: the category alone.
    assert (
        words("peer_amount", raw, category_amount_ratio_median=0.5)
        == "0.50× the median electronics payment (1,400.00 vs 2,800.00)"
    )
    assert words("peer_amount", raw) is None
    assert words("peer_amount", {"amount": None}, merchant_amount_ratio_median=3.0) is None


def test_linked_accounts_in_words():
    raw = {"device_id": "dev-1", "counterparty_id": "cp-9", "merchant_id": "m-1"}
    assert (
        words("linked_accounts", raw, device_accounts_24h=4.0, ring_size_24h=5.0)
        == "device shared with 4 other accounts in 24 h"
    )
    assert (
        words("linked_accounts", raw, counterparty_accounts_24h=1.0, ring_size_24h=2.0)
        == "1 other account paid cp-9 in 24 h"
    )
    # The link came through another of the account's payments: the group is named instead.
    assert (
        words("linked_accounts", {"merchant_id": "m-1"}, ring_size_24h=5.0)
        == "one of 5 accounts sharing a device or counterparty in 24 h"
    )
    assert (
        words("linked_accounts", raw, account_counterparties_24h=4.0, merchant_accounts_1h=32.0)
        == "4 different counterparties paid in 24 h; at least 32 other accounts paid m-1 in the "
        "last hour"
    )
    # Nothing shared, one counterparty, an ordinary merchant: no evidence, no words.
    assert (
        words(
            "linked_accounts",
            raw,
            device_accounts_24h=0.0,
            counterparty_accounts_24h=0.0,
            ring_size_24h=1.0,
            account_counterparties_24h=1.0,
            merchant_accounts_1h=1.0,
        )
        is None
    )


def test_the_model_neither_uses_nor_cites_the_peer_features(trained_model_file, synthetic_history):
    """Until the worker's history loads other accounts' rows, a trained model has no peer
    feature, so its reasons never cite one (PEER_FAMILIES)."""
    _, _, trained = trained_model_file
    artifact = trained.artifact
    assert not set(PEER_FEATURE_NAMES) & set(artifact["feature_names"])
    features = compute_features(synthetic_history, artifact=artifact)
    ring = np.flatnonzero((synthetic_history["fraud_pattern"] == "collusion_ring").to_numpy())
    proba = predict_proba(artifact, features.iloc[ring])
    reasons = explain(artifact, features.iloc[ring], synthetic_history.iloc[ring], proba)
    cited = {r["code"] for row in reasons for r in row}
    assert cited and not cited & {"peer_amount", "linked_accounts"}
