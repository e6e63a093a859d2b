"""Property tests of the feature code: any frame the loaders can produce (odd values, missing
inputs, ties, extreme amounts, junk metadata) gives a feature matrix or a clear skip count, never
an exception or an infinity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.engine.features import (
    FEATURE_NAMES,
    compute_features,
    feature_spec,
    select_metadata_keys,
    usable_rows,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
TEXT = st.sampled_from(["", "a", "b", "ZZ", "ü", "x" * 100])
ROW = st.fixed_dictionaries(
    {
        "account_id": st.sampled_from(["acct-1", "acct-2", "acct-3"]),
        "amount": st.one_of(
            st.floats(min_value=0.01, max_value=1e16),
            st.sampled_from([0.01, 1e15, 123.45]),
        ),
        "seconds": st.integers(min_value=0, max_value=40 * 86400),
        "merchant_id": TEXT,
        "merchant_category": TEXT,
        "channel": st.sampled_from(["", "pos", "ecom", "atm", "other"]),
        "country": st.sampled_from(["", "DE", "FR", "NG"]),
        "latitude": st.one_of(st.none(), st.floats(min_value=-90, max_value=90)),
        "longitude": st.one_of(st.none(), st.floats(min_value=-180, max_value=180)),
        "device_id": TEXT,
        "counterparty_id": TEXT,
        "metadata": st.dictionaries(
            st.sampled_from(["score", "terminal", "x"]),
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
            max_size=3,
        ),
        "is_fraud": st.sampled_from([0.0, 1.0, np.nan]),
    }
)


def frame_of(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame["occurred_at"] = pd.to_datetime(
        [START + timedelta(seconds=s) for s in frame.pop("seconds")], utc=True
    )
    return frame


@pytest.mark.slow  # a property test of several seconds: make test, not test-fast
@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(rows=st.lists(ROW, min_size=1, max_size=25))
def test_behavioural_features_are_finite_or_missing_for_any_frame(rows):
    frame = frame_of(rows)
    features = compute_features(frame)
    assert list(features.columns) == FEATURE_NAMES
    assert features.index.equals(frame.index)
    values = features.to_numpy(dtype=float)
    assert not np.isinf(values).any()


@pytest.mark.slow  # a property test of several seconds: make test, not test-fast
@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(rows=st.lists(ROW, min_size=1, max_size=25))
def test_artifact_features_and_metadata_keys_for_any_frame(rows):
    frame = frame_of(rows)
    spec = feature_spec(frame)
    assert set(select_metadata_keys(frame)) <= {"score", "terminal", "x"}
    artifact = {"feature_names": spec["feature_names"], "feature_spec": spec}
    features = compute_features(frame.drop(columns=["is_fraud"]), artifact=artifact)
    assert list(features.columns) == spec["feature_names"]
    assert not np.isinf(features.to_numpy(dtype=float)).any()


JUNK = st.one_of(st.none(), st.just(np.nan), st.text(max_size=5), st.integers(), st.floats())


@settings(max_examples=150, deadline=None, database=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "id": st.integers(min_value=1),
                "account_id": JUNK,
                "amount": JUNK,
                "occurred_at": st.one_of(
                    JUNK,
                    st.sampled_from(["2026-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "0001-01-01"]),
                ),
            }
        ),
        max_size=10,
    )
)
def test_usable_rows_keeps_or_counts_every_row(rows):
    frame = pd.DataFrame(rows, columns=["id", "account_id", "amount", "occurred_at"])
    usable, skipped = usable_rows(frame)
    assert len(usable) + sum(skipped.values()) == len(frame)
    if len(usable):
        assert (usable["amount"].astype(float) > 0).all()
        assert usable["occurred_at"].notna().all()
