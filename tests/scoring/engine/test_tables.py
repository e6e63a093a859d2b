"""``scoring.engine.tables.lookup``: the same values as ``Series.map(dict)``, whatever the size
of the table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.engine.tables import lookup


def test_the_same_as_series_map_with_repeats_unknowns_and_missing_values():
    table = {"m-1": 0.5, "m-2": 2.0, "": 9.0}
    values = pd.Series(
        ["m-2", "m-1", "m-2", "unknown", "", None, np.nan], index=[5, 3, 9, 1, 2, 7, 8]
    )
    expected = values.map(table).astype(float).to_numpy()
    got = lookup(values, table)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == float


def test_an_empty_series_and_an_empty_table():
    assert lookup(pd.Series([], dtype=object), {"a": 1.0}).shape == (0,)
    assert np.isnan(lookup(pd.Series(["a", "b"]), {})).all()


def test_a_large_table_gives_the_values_of_the_keys_present():
    table = {f"m-{i}": float(i) for i in range(100_000)}
    values = pd.Series(["m-99999", "m-0", "m-42", "m-x"])
    np.testing.assert_array_equal(lookup(values, table), [99999.0, 0.0, 42.0, np.nan])
