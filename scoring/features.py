"""Behavioural features, vectorised; one code path for training and for live scoring.

Every feature of a transaction is computed from the same account's *earlier* transactions only
(strictly earlier in time, ties broken by id), within a fixed look-back window. A fixed window
means the worker, which loads only the last ``LOOKBACK`` of history, computes exactly what
training computed on the full data set.

Windows are evaluated with sorted composite keys and ``searchsorted`` instead of per-row loops:
for each row, the rows of its group inside ``[t - window, t)`` form one contiguous slice of the
sorted array, so counts and sums are differences of prefix sums.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

LOOKBACK = timedelta(days=30)
HOUR = 3600
DAY = 24 * HOUR

# Columns a frame must have to compute features (``id`` orders same-instant transactions).
INPUT_COLUMNS = [
    "id",
    "account_id",
    "amount",
    "occurred_at",
    "merchant_id",
    "merchant_category",
    "channel",
    "country",
    "latitude",
    "longitude",
    "device_id",
    "counterparty_id",
]

FEATURE_NAMES = [
    "amount_log",
    "amount_ratio_mean_30d",
    "amount_zscore_30d",
    "history_count_30d",
    "count_1h",
    "count_24h",
    "amount_sum_24h_log",
    "seconds_since_prev_log",
    "hour_sin",
    "hour_cos",
    "hour_share_30d",
    "new_merchant_30d",
    "new_category_30d",
    "new_country_30d",
    "new_device_30d",
    "distance_from_usual_km",
    "new_counterparty_30d",
    "counterparty_count_24h",
    "channel_ecom",
    "channel_atm",
]


def empty_frame() -> pd.DataFrame:
    """A frame with the input columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in INPUT_COLUMNS})


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.copy()
    # Optional inputs may be absent altogether (e.g. a data set without geolocation).
    for col in INPUT_COLUMNS:
        if col not in df:
            df[col] = np.nan if col in ("latitude", "longitude") else ""
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True)
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce").astype(float)
    for col in ("latitude", "longitude"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in (
        "account_id",
        "merchant_id",
        "merchant_category",
        "channel",
        "country",
        "device_id",
        "counterparty_id",
    ):
        df[col] = df[col].fillna("").astype(str)
    df["id"] = pd.to_numeric(df["id"], errors="coerce").fillna(0).astype(np.int64)
    return df


class _Windows:
    """Look-back window aggregates per group, for rows in the frame's original order."""

    def __init__(self, ts: np.ndarray, ids: np.ndarray):
        self.ts = ts  # int64 seconds, relative to the frame's first transaction
        self.ids = ids
        self.span = (
            int(ts.max() - ts.min()) + 2 * int(LOOKBACK.total_seconds()) + 2 if len(ts) else 1
        )

    def _sorted(self, codes: np.ndarray):
        order = np.lexsort((self.ids, self.ts, codes))
        keys = codes[order].astype(np.int64) * self.span + self.ts[order]
        return order, keys

    def aggregate(
        self, codes: np.ndarray, window: int, values: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Count (and sum of ``values``) of earlier rows of the same group within ``window`` s."""
        order, keys = self._sorted(codes)
        position = np.arange(len(keys))
        start = np.searchsorted(keys, keys - window, side="left")
        counts = np.empty(len(keys), dtype=np.float64)
        counts[order] = position - start
        if values is None:
            return counts, None
        prefix = np.concatenate([[0.0], np.cumsum(values[order])])
        sums = np.empty(len(keys), dtype=np.float64)
        sums[order] = prefix[position] - prefix[start]
        return counts, sums

    def previous_gap(self, codes: np.ndarray) -> np.ndarray:
        """Seconds since the previous row of the same group (NaN for the first)."""
        order, _ = self._sorted(codes)
        ts_sorted = self.ts[order].astype(np.float64)
        codes_sorted = codes[order]
        gap = np.full(len(order), np.nan)
        same = codes_sorted[1:] == codes_sorted[:-1]
        gap[1:][same] = ts_sorted[1:][same] - ts_sorted[:-1][same]
        out = np.empty(len(order))
        out[order] = gap
        return out


def _codes(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return df.groupby(columns, sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def compute_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature matrix (``FEATURE_NAMES`` columns, same index as ``frame``).

    ``frame`` holds the transactions to featurise *and* their accounts' history; each row's
    features come from the rows before it. Missing inputs give NaN, which the model handles.
    """
    if frame.empty:
        return pd.DataFrame(columns=FEATURE_NAMES, index=frame.index, dtype=float)
    df = _prepare(frame)
    epoch = df["occurred_at"].astype("int64").to_numpy() // 1_000_000_000
    ts = epoch - epoch.min()
    win = _Windows(ts, df["id"].to_numpy())
    lookback = int(LOOKBACK.total_seconds())
    amount = df["amount"].to_numpy()
    account = _codes(df, ["account_id"])

    out = pd.DataFrame(index=df.index)
    out["amount_log"] = np.log1p(amount)

    n30, sum30 = win.aggregate(account, lookback, amount)
    _, sumsq30 = win.aggregate(account, lookback, amount**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean30 = np.where(n30 > 0, sum30 / n30, np.nan)
        var30 = np.where(
            n30 > 1,
            (sumsq30 - n30 * mean30**2) / np.maximum(n30 - 1, 1),
            np.where(n30 == 1, 0, np.nan),
        )
        std30 = np.sqrt(np.clip(var30, 0, None))
        out["amount_ratio_mean_30d"] = amount / mean30
        # A floor on the deviation keeps a very regular account's z-score finite and meaningful.
        out["amount_zscore_30d"] = (amount - mean30) / np.maximum(std30, 0.1 * mean30 + 1.0)
    out["history_count_30d"] = n30

    count_1h, _ = win.aggregate(account, HOUR)
    count_24h, sum_24h = win.aggregate(account, DAY, amount)
    out["count_1h"] = count_1h
    out["count_24h"] = count_24h
    out["amount_sum_24h_log"] = np.log1p(sum_24h)
    gap = win.previous_gap(account)
    out["seconds_since_prev_log"] = np.log1p(gap)

    hours = df["occurred_at"].dt.hour.to_numpy() + df["occurred_at"].dt.minute.to_numpy() / 60
    out["hour_sin"] = np.sin(2 * np.pi * hours / 24)
    out["hour_cos"] = np.cos(2 * np.pi * hours / 24)
    # Share of the account's recent transactions in the same 3-hour slot of the day.
    df["_hour_slot"] = (df["occurred_at"].dt.hour // 3).astype(int)
    same_slot, _ = win.aggregate(_codes(df, ["account_id", "_hour_slot"]), lookback)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["hour_share_30d"] = np.where(n30 > 0, same_slot / n30, np.nan)

    for feature, column in (
        ("new_merchant_30d", "merchant_id"),
        ("new_category_30d", "merchant_category"),
        ("new_country_30d", "country"),
        ("new_device_30d", "device_id"),
    ):
        seen, _ = win.aggregate(_codes(df, ["account_id", column]), lookback)
        known = (df[column] != "").to_numpy() & (n30 > 0)
        out[feature] = np.where(known, (seen == 0).astype(float), np.nan)

    has_geo = df["latitude"].notna().to_numpy() & df["longitude"].notna().to_numpy()
    lat = np.where(has_geo, df["latitude"].to_numpy(), 0.0)
    lon = np.where(has_geo, df["longitude"].to_numpy(), 0.0)
    # Geo aggregates only over geolocated rows: a separate group per (account, has_geo).
    geo_codes = account * 2 + has_geo.astype(np.int64)
    n_geo, sum_lat = win.aggregate(geo_codes, lookback, lat)
    _, sum_lon = win.aggregate(geo_codes, lookback, lon)
    with np.errstate(divide="ignore", invalid="ignore"):
        usual_lat = sum_lat / n_geo
        usual_lon = sum_lon / n_geo
    distance = _haversine_km(lat, lon, usual_lat, usual_lon)
    out["distance_from_usual_km"] = np.where(has_geo & (n_geo > 0), distance, np.nan)

    # Payments to a counterparty: new for this account, and how busy that counterparty has been
    # across all accounts in the last 24 h (several accounts paying one mule within a day).
    has_cp = (df["counterparty_id"] != "").to_numpy()
    seen_cp, _ = win.aggregate(_codes(df, ["account_id", "counterparty_id"]), lookback)
    out["new_counterparty_30d"] = np.where(has_cp & (n30 > 0), (seen_cp == 0).astype(float), np.nan)
    cp_recent, _ = win.aggregate(_codes(df, ["counterparty_id"]), DAY)
    out["counterparty_count_24h"] = np.where(has_cp, cp_recent, np.nan)

    channel = df["channel"].str.lower()
    out["channel_ecom"] = (channel == "ecom").astype(float)
    out["channel_atm"] = (channel == "atm").astype(float)
    return out[FEATURE_NAMES].astype(float)
