"""The small-frame shortcuts of the feature code give what pandas gives: dense sorted codes
(``features._dense_codes``), table lookups (``tables.lookup``) and epoch seconds
(``frames.epoch_seconds``), below and above the size where they switch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.engine import features, tables
from scoring.engine.frames import epoch_seconds

RNG = np.random.default_rng(7)


def _strings(n: int) -> np.ndarray:
    words = ["", "b", "a", "ü", "A", "a ", "10", "9", "acct-000012", "acct-00012"]
    return np.array([words[i] for i in RNG.integers(0, len(words), n)], dtype=object)


@pytest.mark.parametrize("n", [1, 7, tables.SMALL_VALUES, tables.SMALL_VALUES + 1])
def test_dense_codes_are_pandas_sorted_factorize(n):
    for values in (_strings(n), RNG.integers(-5, 2**40, n), RNG.integers(0, 3, n)):
        expected, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
        codes, count = features._dense_codes(values)
        assert codes.dtype == np.int64
        assert np.array_equal(codes, expected) and count == len(uniques)


def test_dense_codes_of_mixed_objects_fall_back_to_pandas():
    values = np.array(["a", 3, None, "a"], dtype=object)
    expected, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
    codes, count = features._dense_codes(values)
    assert np.array_equal(codes, expected) and count == len(uniques)


@pytest.mark.parametrize("n", [1, 30, tables.SMALL_VALUES + 1])
def test_lookup_is_the_same_on_either_path(n):
    table = {"a": 0.5, "b": 2, "ü": -1.0}
    values = pd.Series(_strings(n))
    expected = np.array([table.get(v, np.nan) for v in values], dtype=float)
    for given in (values, values.to_numpy(), values.tolist()):
        assert np.array_equal(tables.lookup(given, table), expected, equal_nan=True)
    with_missing = pd.Series(["a", None, np.nan, "b"], dtype=object)
    assert np.array_equal(
        tables.lookup(with_missing, table), [0.5, np.nan, np.nan, 2.0], equal_nan=True
    )


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epoch_seconds_floor_like_numpy(unit):
    times = pd.Series(
        pd.to_datetime(
            ["1969-12-31T23:59:59.5", "1970-01-01T00:00:00.0", "2026-05-01T12:34:56.789"], utc=True
        )
    ).dt.as_unit(unit)
    naive = times.dt.tz_localize(None).to_numpy()
    assert epoch_seconds(times).tolist() == naive.astype("datetime64[s]").astype(np.int64).tolist()
