"""Raw transaction columns as model inputs: what a data scientist hands a booster first.

The behavioural features (:mod:`scoring.engine.features`) describe a transaction against its
account's
past; on data where the account says little (one row per account, no entity at all) or where the
signal sits in the fields themselves (a scheme's usual amount, an office's place, a balance), a
booster on the raw fields does better. These columns give it that view, computed by the same
code path for training and live scoring:

* ``raw_amount``, ``raw_hour`` (UTC, with minutes as a fraction), ``raw_weekday``,
  ``raw_latitude``, ``raw_longitude``;
* ``raw_merchant``, ``raw_category``, ``raw_channel``, ``raw_country``: the value's code in a
  vocabulary frozen at training time (most frequent first, at most ``MAX_CODES``; anything else
  is missing).

Account, card, device, counterparty and IP identifiers are never among them: they would let a
model memorise who was defrauded instead of learning what fraud looks like. Numeric metadata
(``meta_*``, :func:`scoring.engine.features.select_metadata_keys`) is the rest of the raw view.
:func:`raw_spec` keeps only the columns that carry at least one value in training, so a data set
without coordinates has no coordinate columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import epoch_seconds, float_frame, utc_times
from .tables import lookup

RAW_PREFIX = "raw_"
RAW_TEXT_COLUMNS = {
    "raw_merchant": "merchant_id",
    "raw_category": "merchant_category",
    "raw_channel": "channel",
    "raw_country": "country",
}
RAW_FEATURES = [
    "raw_amount",
    "raw_hour",
    "raw_weekday",
    "raw_latitude",
    "raw_longitude",
    *RAW_TEXT_COLUMNS,
]
MAX_CODES = 5000


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as stripped text, "" where missing."""
    return pd.Series(_text_values(frame, column), index=frame.index, dtype=object)


def _text_values(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return [""] * len(frame)
    values = frame[column]
    items = values.tolist()
    if all(type(v) is str for v in items):  # the stored history: no missing value to look for
        return [v.strip() for v in items]
    missing = values.isna().to_numpy()
    return ["" if m else str(v).strip() for v, m in zip(values.to_numpy(), missing, strict=True)]


def _numbers(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    occurred = utc_times(frame["occurred_at"])
    # Whole seconds since the epoch (UTC), then the clock and the day of the week from them.
    seconds = epoch_seconds(occurred)
    minutes = seconds // 60
    out = {
        "raw_amount": _floats(frame["amount"]),
        "raw_hour": (minutes // 60 % 24 + minutes % 60 / 60).astype(float),
        "raw_weekday": ((seconds // 86_400 + 3) % 7).astype(float),  # 1970-01-01: a Thursday
    }
    for name, column in (("raw_latitude", "latitude"), ("raw_longitude", "longitude")):
        out[name] = _floats(frame[column]) if column in frame else np.full(len(frame), np.nan)
    return out


def _floats(values: pd.Series) -> np.ndarray:
    """The column as floats, NaN where it holds no number."""
    if values.dtype == np.float64:
        return values.to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def raw_spec(frame: pd.DataFrame) -> dict[str, Any]:
    """What the raw columns of a model trained on ``frame`` are: ``names`` (the columns with at
    least one value in ``frame``, in ``RAW_FEATURES`` order) and ``vocabulary`` (per code
    column: value → code, most frequent first)."""
    vocabulary: dict[str, dict[str, int]] = {}
    for name, column in RAW_TEXT_COLUMNS.items():
        values = _text(frame, column)
        counts = values[values != ""].value_counts()
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CODES]
        vocabulary[name] = {value: code for code, (value, _) in enumerate(ranked)}
    numbers = _numbers(frame)
    names = [
        n
        for n in RAW_FEATURES
        if (vocabulary[n] if n in RAW_TEXT_COLUMNS else not np.isnan(numbers[n]).all())
    ]
    return {"names": names, "vocabulary": vocabulary}


def raw_features(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """The raw columns ``spec["names"]`` of ``frame`` (same index); unseen codes are NaN."""
    return float_frame(raw_feature_columns(frame, spec), list(spec["names"]), frame.index)


def raw_feature_columns(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """:func:`raw_features` by name, one value per row of ``frame``."""
    numbers = _numbers(frame)
    return {
        name: lookup(_text_values(frame, RAW_TEXT_COLUMNS[name]), spec["vocabulary"][name])
        if name in RAW_TEXT_COLUMNS
        else numbers[name]
        for name in spec["names"]
    }


def category_counts(spec: dict[str, Any]) -> dict[str, int]:
    """Number of codes of each code column in ``spec`` (for the booster's category splits)."""
    return {
        name: len(spec["vocabulary"][name]) for name in spec["names"] if name in RAW_TEXT_COLUMNS
    }
