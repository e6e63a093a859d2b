"""Column conversions the feature code shares (pure pandas)."""

from __future__ import annotations

import pandas as pd


def utc_times(values: pd.Series) -> pd.Series:
    """``values`` as UTC date-times: taken as they are when they already are (the worker's
    history frame), else parsed by ``pd.to_datetime(…, utc=True)``."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC":
        return values
    return pd.to_datetime(values, utc=True)
