"""Which metadata keys become features (issue 13): chosen by signal on the training part, none
lost to the "constant within an account" rule when accounts appear once, and the raw columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from scoring.engine.features import MAX_METADATA_FEATURES, feature_spec, select_metadata_keys
from scoring.engine.raw_features import raw_features, raw_spec

T0 = datetime(2026, 5, 4, tzinfo=UTC)


def frame_with(metadata: list[dict], *, accounts: list[str], labels=None) -> pd.DataFrame:
    n = len(metadata)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "account_id": accounts,
            "amount": 10.0,
            "occurred_at": [T0 + timedelta(minutes=7 * i) for i in range(n)],
            "metadata": metadata,
        }
    )
    if labels is not None:
        frame["is_fraud"] = np.asarray(labels, dtype=float)
    return frame


def test_metadata_keys_are_chosen_by_signal_and_the_choice_is_reported():
    rng = np.random.default_rng(0)
    n = 1200
    y = (rng.random(n) < 0.1).astype(float)
    metadata = []
    for i in range(n):
        row = {f"k{j:02d}": float(rng.normal()) for j in range(MAX_METADATA_FEATURES + 5)}
        row["zz_balance_left"] = float(rng.normal(3 * y[i], 1))  # last by name, strongest
        metadata.append(row)
    report: dict = {}
    keys = select_metadata_keys(
        frame_with(metadata, accounts=[f"a{i % 300}" for i in range(n)], labels=y), report=report
    )
    assert len(keys) == MAX_METADATA_FEATURES
    assert next(iter(keys)) == "zz_balance_left"  # strongest first
    assert report["by"] == "signal"
    assert (
        report["signal"]["zz_balance_left"]
        > 0.5
        > max(v for k, v in report["signal"].items() if k != "zz_balance_left")
    )
    weaker = [k for k, why in report["left_out"].items() if why.startswith("weaker")]
    assert len(weaker) == 6  # 46 qualifying keys, 40 kept


def test_without_labels_the_keys_are_taken_by_name_and_it_says_so():
    metadata = [{"b": float(i % 7), "a": float(i % 5)} for i in range(100)]
    report: dict = {}
    keys = select_metadata_keys(frame_with(metadata, accounts=["x"] * 100), report=report)
    assert list(keys) == ["a", "b"] and report["by"] == "name"


def test_one_row_per_account_keeps_the_metadata():
    """Balances in a PaySim-like table: every account appears once, so nothing can be constant
    within an account, and the keys stay (they were all dropped before)."""
    rng = np.random.default_rng(1)
    metadata = [
        {"oldbalanceOrg": float(rng.lognormal(7)), "newbalanceOrig": float(rng.lognormal(6))}
        for _ in range(200)
    ]
    keys = select_metadata_keys(frame_with(metadata, accounts=[f"c{i}" for i in range(200)]))
    assert set(keys) == {"oldbalanceOrg", "newbalanceOrig"}


def test_a_rare_flag_that_varies_within_accounts_is_kept_and_a_home_zip_is_not():
    """Mostly-zero flags look "constant" in most accounts; they vary as often as random values
    would, so they stay. A home zip never varies within an account though it differs across."""
    rng = np.random.default_rng(2)
    accounts = [f"a{i % 40}" for i in range(800)]
    metadata = [
        {"flagged": int(rng.random() < 0.02), "home_zip": 10_000 + int(a[1:])} for a in accounts
    ]
    report: dict = {}
    keys = select_metadata_keys(frame_with(metadata, accounts=accounts), report=report)
    assert "flagged" in keys
    assert "home_zip" not in keys
    assert report["left_out"]["home_zip"].startswith("constant within each account")


def test_the_spec_records_the_selection():
    metadata = [{"score": float(i % 9)} for i in range(50)]
    spec = feature_spec(frame_with(metadata, accounts=[f"a{i % 5}" for i in range(50)]))
    assert spec["metadata_keys"] == {"score": "meta_score"}
    assert spec["metadata_selection"]["by"] == "name"


def test_raw_columns_leave_out_what_the_data_does_not_have():
    frame = frame_with([{}] * 6, accounts=["a"] * 6)
    frame["merchant_category"] = ["food", "food", "fuel", "", "food", "fuel"]
    spec = raw_spec(frame)
    assert spec["names"] == ["raw_amount", "raw_hour", "raw_weekday", "raw_category"]
    assert spec["vocabulary"]["raw_category"] == {"food": 0, "fuel": 1}  # most frequent first
    later = frame.assign(merchant_category=["fuel", "toys", "", "food", "food", "food"])
    codes = raw_features(later, spec)["raw_category"].tolist()
    assert codes[0] == 1 and np.isnan(codes[1]) and np.isnan(codes[2]) and codes[3] == 0
