"""``compute_features(..., rows=...)``: the worker featurises its batch only, not the history it
loaded, and gets exactly the figures the whole frame would give those rows (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from scoring.engine.features import (
    FEATURE_NAMES,
    compute_features,
    compute_peer_features,
    feature_spec,
)
from scoring.engine.raw_features import raw_spec
from scoring.engine.synthetic import generate_history


@pytest.fixture(scope="module")
def frame():
    history = generate_history(
        n_accounts=80, days=40, end=datetime(2026, 10, 1, tzinfo=UTC), seed=5
    )
    history = history.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    history.insert(0, "id", range(1, len(history) + 1))
    # Rows arrive from the database in no particular order.
    return history.sample(frac=1.0, random_state=3)


@pytest.fixture(scope="module")
def artifact(frame):
    """Everything a served artifact can ask for: rates, reference amounts, metadata, raw."""
    spec = feature_spec(frame)
    spec["raw"] = raw_spec(frame)
    names = [*spec["feature_names"], *spec["raw"]["names"]]
    return {"feature_names": names, "feature_spec": spec}


def test_the_batch_rows_get_exactly_what_the_whole_frame_gives_them(frame, artifact):
    everything = compute_features(frame, artifact=artifact)
    latest = frame.sort_values("occurred_at").index[-300:]
    scattered = frame.index[::7]
    for rows in (latest, scattered, frame.index[:1], frame.index):
        batch = compute_features(frame, artifact=artifact, rows=rows)
        assert list(batch.index) == list(rows)
        pd.testing.assert_frame_equal(batch, everything.loc[rows], check_exact=True)
    assert everything.columns.tolist() == artifact["feature_names"]
    assert everything.notna().any().all(), "every family is exercised"


def test_the_behavioural_block_alone_and_the_challengers_reuse_of_it(frame, artifact):
    rows = frame.index[-50:]
    block = compute_features(frame, rows=rows)
    assert block.columns.tolist() == FEATURE_NAMES
    pd.testing.assert_frame_equal(block, compute_features(frame).loc[rows], check_exact=True)
    # The challenger gets the champion's block of the same rows: no behavioural recomputation.
    reused = compute_features(frame, artifact=artifact, rows=rows, behavioural=block)
    pd.testing.assert_frame_equal(
        reused, compute_features(frame, artifact=artifact, rows=rows), check_exact=True
    )


def test_untyped_input_is_converted_as_before_and_the_input_is_not_changed(frame, artifact):
    """The worker's frame is typed and taken as it is; any other frame (text amounts, missing
    text as None, ids as text) is converted, with the same figures."""
    typed = frame.head(400)
    untyped = typed.astype({"amount": str, "id": str}).copy()
    untyped["occurred_at"] = untyped["occurred_at"].map(lambda t: t.isoformat())
    untyped.loc[untyped["device_id"] == "", "device_id"] = None
    before = untyped.copy()
    pd.testing.assert_frame_equal(
        compute_features(untyped, artifact=artifact),
        compute_features(typed, artifact=artifact),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(untyped, before)


def test_rows_not_in_the_frame_and_no_rows(frame, artifact):
    with pytest.raises(KeyError, match="not in the frame"):
        compute_features(frame, artifact=artifact, rows=pd.Index([frame.index.max() + 1]))
    empty = compute_features(frame, artifact=artifact, rows=frame.index[:0])
    assert empty.empty and empty.columns.tolist() == artifact["feature_names"]


def test_peer_families_are_for_every_row_only(frame):
    from scoring.engine.features import _behavioural, _prepare

    with pytest.raises(ValueError, match="every row"):
        _behavioural(_prepare(frame), peers=True, at=np.arange(3))
    assert len(compute_peer_features(frame.head(200))) == 200


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
def test_the_raw_clock_and_weekday_are_pandas_own_for_any_time(unit):
    """``raw_hour`` / ``raw_weekday`` come from whole seconds since the epoch: the same as
    pandas' ``dt.hour + dt.minute / 60`` and ``dt.weekday``, before 1970 and to the second."""
    from scoring.engine.raw_features import _numbers

    times = pd.Series(
        pd.to_datetime(
            [
                "1969-12-31T23:59:59.5Z",
                "1969-12-31T00:00:00.5Z",
                "1700-01-01T10:30:00Z",
                "2026-03-01T23:59:59.999Z",
                "2026-12-01T21:05:07.123456Z",
            ],
            utc=True,
            format="ISO8601",
        )
    ).dt.as_unit(unit)
    numbers = _numbers(pd.DataFrame({"occurred_at": times, "amount": 1.0}))
    np.testing.assert_array_equal(
        numbers["raw_hour"], (times.dt.hour + times.dt.minute / 60).to_numpy()
    )
    np.testing.assert_array_equal(numbers["raw_weekday"], times.dt.weekday.to_numpy(dtype=float))
