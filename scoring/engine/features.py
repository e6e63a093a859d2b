"""Behavioural features, vectorised; one code path for training and for live scoring.

Every feature of a transaction is computed from the same account's *earlier* transactions only
(strictly earlier in time, ties broken by id), within a fixed look-back window. A fixed window
means the worker, which loads only the last ``LOOKBACK`` of history, computes exactly what
training computed on the full data set.

Windows are evaluated with sorted composite keys and ``searchsorted`` instead of per-row loops:
for each row, the rows of its group inside ``[t - window, t)`` form one contiguous slice of the
sorted array, so counts and sums are differences of prefix sums.

Three families of features:

* behavioural (``FEATURE_NAMES``): the transaction against the account's own recent past, plus a
  few properties of the transaction itself (amount, hour, channel);
* learned rates (``RATE_FEATURES``): smoothed fraud rates of the merchant and the category. In
  training a row only sees labels of transactions that happened ``LABEL_DELAY`` before it (labels
  are known after the fact); when scoring, the rates come from a table frozen in the model
  artifact at training time, so the worker never scans all history;
* partner attributes: numeric ``metadata`` keys chosen at training time (``meta_<key>``).

``compute_features(frame)`` gives the behavioural features; ``compute_features(frame,
artifact=...)`` gives exactly the columns the artifact was trained on.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from .ensemble import validation_cut
from .fields import FEATURE_INPUT_FIELDS
from .frames import epoch_seconds, float_frame, utc_times
from .raw_features import raw_feature_columns
from .tables import SMALL_VALUES, lookup

LOOKBACK = timedelta(days=30)
MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
# Median, percentile and maximum look at the account's last HISTORY_CAP transactions inside the
# look-back window: a bounded matrix keeps them vectorised and fast on busy accounts.
HISTORY_CAP = 32
# A label (a chargeback, an investigator's disposition) is known this long after the transaction.
LABEL_DELAY = timedelta(days=7)
# Pseudo-count of the smoothing of merchant/category fraud rates towards the overall rate.
RATE_SMOOTHING = 30.0
# Metadata keys: at most this many, the strongest by signal when there are labels (else by
# name); a key is "constant within accounts" when it varies within them less than this share of
# what values dealt at random would; the signal of a key is read over this many quantile bins.
MAX_METADATA_FEATURES = 40
CONSTANT_KEY_SHARE = 0.1
SIGNAL_BINS = 16
SIGNAL_MIN_POSITIVES = 5
VELOCITY_WINDOWS = (("10m", 10 * MINUTE), ("1h", HOUR), ("24h", DAY), ("7d", 7 * DAY))
# Peer features look at the last PEER_CAP earlier payments of the same merchant, category, device
# or counterparty (any account), so a busy merchant costs no more than a quiet one. A merchant or
# category with fewer than PEER_MIN_HISTORY earlier payments has no amount figures.
PEER_CAP = 32
PEER_MIN_HISTORY = 3
# Links between accounts count inside these windows; a ring's size looks back over the account's
# own payments of the last LINK_WINDOW, each with its links of the LINK_WINDOW before it.
LINK_WINDOW = DAY
MERCHANT_LINK_WINDOW = HOUR
# A robust z-score's floor on the spread of log amounts (a merchant with one fixed price).
MIN_LOG_SPREAD = 0.1

# Columns a frame must have to compute features (``id`` orders same-instant transactions): the
# transaction fields (scoring.engine.fields) except those no feature reads.
INPUT_COLUMNS = ["id", *FEATURE_INPUT_FIELDS]
_TEXT_COLUMNS = (
    "account_id",
    "merchant_id",
    "merchant_category",
    "channel",
    "country",
    "device_id",
    "counterparty_id",
)
_NOVELTY = (
    ("merchant", "merchant_id"),
    ("category", "merchant_category"),
    ("country", "country"),
    ("device", "device_id"),
    ("counterparty", "counterparty_id"),
)

# Novelties also counted over the last day (``new_<plural>_24h``).
_NEW_IN_A_DAY = {"merchant": "merchants", "country": "countries", "device": "devices"}

# The account's own recent past, plus a few properties of the transaction itself.
ACCOUNT_FEATURES = [
    "amount_log",
    "amount_ratio_mean_30d",
    "amount_zscore_30d",
    "amount_ratio_median_30d",
    "amount_percentile_30d",
    "amount_ratio_max_30d",
    "history_count_30d",
    *[f"count_{w}" for w, _ in VELOCITY_WINDOWS],
    *[f"amount_sum_{w}_log" for w, _ in VELOCITY_WINDOWS],
    "count_24h_vs_usual",
    "seconds_since_prev_log",
    "hour_sin",
    "hour_cos",
    "hour_share_30d",
    "hour_distance_from_usual",
    "weekday_share_30d",
    "category_share_30d",
    *[f"new_{label}_30d" for label, _ in _NOVELTY],
    "new_merchants_24h",
    "new_countries_24h",
    "new_devices_24h",
    "distance_from_usual_km",
    "distance_from_prev_km",
    "speed_from_prev_kmh",
    "counterparty_count_24h",
    "channel_ecom",
    "channel_atm",
]
# The amount against the merchant's and the category's recent payments, from every account: the
# last PEER_CAP earlier payments there inside the look-back window (median, percentile, robust z).
PEER_AMOUNT_FEATURES = [
    "merchant_amount_ratio_median",
    "merchant_amount_percentile",
    "merchant_amount_zscore",
    "category_amount_ratio_median",
    "category_amount_percentile",
    "category_amount_zscore",
]
# Accounts linked through a shared device or counterparty, or the same merchant, in a short
# window before the transaction: fan-in of the device / counterparty / merchant, the account's
# fan-out to counterparties, and the size of the group it belongs to (see _links).
LINK_FEATURES = [
    "device_accounts_24h",
    "counterparty_accounts_24h",
    "merchant_accounts_1h",
    "account_counterparties_24h",
    "ring_size_24h",
]
# The amount against what the account itself usually pays, once the category and the merchant
# are allowed for: its level is how far above or below the usual amounts of their merchants (or
# categories) its recent payments were, those usual amounts learnt at training time and frozen in
# the artifact, so serving reads the account's own rows only. A grocery shopper's first laptop is
# not "30x usual"; a laptop at 20 times the account's level is. The gap is also given in the
# account's own spreads. (The amount over the merchant's or category's usual amount alone cost the
# Sparkov sample 0.047 AP and is not a feature: docs/peer-features.md.)
REFERENCE_AMOUNT_FEATURES = ["amount_ratio_own_level", "amount_own_level_z"]
#: Every family of features the model is trained and served with, in column order. The reason
#: groups of ``scoring.engine.explain`` read the same lists, so a new feature lands in both at once.
FEATURE_FAMILIES: dict[str, list[str]] = {"account": ACCOUNT_FEATURES}
FEATURE_NAMES = [name for family in FEATURE_FAMILIES.values() for name in family]
#: Families that read other accounts' rows (merchant / category peers, shared devices): computed
#: and tested (``compute_peer_features``) but not in the model yet. The worker's history query
#: loads the batch accounts' rows and their counterparties' payments, not every row that
#: ``serving_history_mask`` names, so served values would differ from trained ones; measured on
#: the product generator they did not raise AP either (docs/peer-features.md).
PEER_FAMILIES: dict[str, list[str]] = {"peer_amount": PEER_AMOUNT_FEATURES, "links": LINK_FEATURES}
PEER_FEATURE_NAMES = [name for family in PEER_FAMILIES.values() for name in family]
RATE_FEATURES = ["merchant_fraud_rate", "category_fraud_rate"]
# Reference amounts: a merchant needs this many training payments to have its own median, which
# is shrunk towards its category's by a pseudo-count; the busiest merchants only are kept, so an
# artifact stays small; an account's spread of levels is floored (in category spreads).
REFERENCE_MIN_ROWS = 10
REFERENCE_SHRINKAGE = 20.0
MAX_REFERENCE_MERCHANTS = 100_000
MIN_LEVEL_SPREAD = 0.25
_RATE_COLUMNS = {"merchant_fraud_rate": "merchant_id", "category_fraud_rate": "merchant_category"}
METADATA_PREFIX = "meta_"


def usable_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows features can be computed for, and how many were left out, by reason.

    Training and evaluation read whatever the database holds, including rows stored before the
    ingestion validator's bounds existed; a row without a usable time, amount or account is
    skipped (and counted) instead of stopping the run. Counts a loader already made (rows it did
    not read) come in ``frame.attrs["skipped"]`` and are added.
    """
    skipped = dict(frame.attrs.get("skipped", {}))
    if frame.empty:
        return frame, skipped
    occurred = pd.to_datetime(frame["occurred_at"], utc=True, errors="coerce")
    amount = pd.to_numeric(frame["amount"], errors="coerce").astype(float)
    account = frame["account_id"].fillna("").astype(str).str.strip()
    problems = {
        "occurred_at missing or outside 1678-2262": occurred.isna().to_numpy(),
        "amount missing, not finite or not positive": ~(
            np.isfinite(amount.to_numpy()) & (amount.to_numpy() > 0)
        ),
        "account_id missing": (account == "").to_numpy(),
    }
    bad = np.zeros(len(frame), dtype=bool)
    for reason, mask in problems.items():
        new = mask & ~bad
        if new.any():
            skipped[reason] = skipped.get(reason, 0) + int(new.sum())
        bad |= mask
    out = frame.loc[~bad].copy()
    out["occurred_at"] = occurred[~bad]
    out.attrs["skipped"] = skipped
    return out, skipped


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature inputs of ``frame`` in the types the features read: UTC times, float amounts
    and coordinates, text ("" for missing), integer ids. Columns already in their type (the
    worker's history frame) are taken as they are; ``frame`` is not changed."""
    df = frame.copy(deep=False)  # columns are replaced below, never written into
    # Optional inputs may be absent altogether (e.g. a data set without geolocation).
    for col in INPUT_COLUMNS:
        if col not in df:
            df[col] = np.nan if col in ("latitude", "longitude") else ""
    times = utc_times(df["occurred_at"])
    if times is not df["occurred_at"]:  # already UTC (the worker's frame): no column set
        df["occurred_at"] = times
    for col in ("amount", "latitude", "longitude"):
        if df[col].dtype != np.float64:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in _TEXT_COLUMNS:
        if pd.api.types.infer_dtype(df[col], skipna=False) != "string":
            df[col] = df[col].fillna("").astype(str)
    if df["id"].dtype != np.int64:
        df["id"] = pd.to_numeric(df["id"], errors="coerce").fillna(0).astype(np.int64)
    return df


class _Group:
    """Rows sorted by (group, time, id); window aggregates over earlier rows of the same group.

    The aggregates are evaluated at the rows ``at`` (positions in the frame, default every row)
    and come out in that order: the worker needs them for its batch only, not for the history
    rows it loaded to compute them. A row's figures are the same whichever rows are evaluated.
    They are evaluated in sorted order (``searchsorted`` is fastest on sorted queries).
    """

    def __init__(
        self,
        codes: np.ndarray,
        ts: np.ndarray,
        ids: np.ndarray,
        span: int,
        at: np.ndarray | None = None,
        by_time: np.ndarray | None = None,
    ):
        # The (group, time, id) order: the rows in (time, id) order (``by_time``, shared by the
        # groups of one frame), then by group with that order kept. The composite key is unique,
        # so a plain argsort gives the stable order, about 8 times faster than ``lexsort`` of the
        # three keys (27,000 rows: 0.56 against 4.5 ms).
        if by_time is None:
            by_time = np.lexsort((ids, ts))
        n = len(codes)
        codes = codes.astype(np.int64)
        if n and (codes.min() < 0 or codes.max() >= n):  # e.g. ``account * 8 + slot``
            codes = _dense_codes(codes)[0]  # same order, dense
        self.order = by_time[np.argsort(codes[by_time] * n + np.arange(n))]
        self.ts_sorted = ts[self.order]
        self.keys = codes[self.order].astype(np.int64) * span + self.ts_sorted
        self.every = np.arange(len(self.keys))
        if at is None:
            self.position, self.slot = self.every, self.order
        else:
            rank = np.empty(len(self.order), dtype=np.int64)
            rank[self.order] = self.every
            wanted = rank[at]
            self.slot = np.argsort(wanted, kind="stable")
            self.position = wanted[self.slot]

    def _place(self, values: np.ndarray, slot: np.ndarray | None = None) -> np.ndarray:
        """Values evaluated in sorted order, in the order they were asked for."""
        slot = self.slot if slot is None else slot
        out = np.empty(values.shape, dtype=np.float64)
        out[slot] = values
        return out

    def start(self, window: int, position: np.ndarray | None = None) -> np.ndarray:
        """Sorted position of the first row of the same group within ``window`` seconds."""
        position = self.position if position is None else position
        return np.searchsorted(self.keys, self.keys[position] - window, side="left")

    def count(self, window: int) -> np.ndarray:
        return self._place(self.position - self.start(window))

    def count_everywhere(self, window: int) -> np.ndarray:
        """:meth:`count` at every row of the frame, in the frame's order."""
        return self._place(self.every - self.start(window, self.every), self.order)

    def sum(self, window: int, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (one per row of the frame) over the earlier rows in the window."""
        prefix = np.concatenate([[0.0], np.cumsum(values[self.order])])
        return self._place(prefix[self.position] - prefix[self.start(window)])

    def previous(self, window: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame position of the previous row of the same group, seconds since it); -1 and NaN
        when there is none inside ``window``."""
        prev_sorted = self.position - 1
        ok = (self.position > 0) & (self.start(window) <= prev_sorted)
        safe = np.maximum(prev_sorted, 0)
        prev_idx = np.where(ok, self.order[safe], -1)
        gap = np.where(ok, self.ts_sorted[self.position] - self.ts_sorted[safe], np.nan)
        out_idx = np.empty(len(prev_idx), dtype=np.int64)
        out_idx[self.slot] = prev_idx
        return out_idx, self._place(gap.astype(float))

    def recent_matrix(self, window: int, values: np.ndarray, cap: int) -> np.ndarray:
        """``(rows, cap)`` matrix of the values of the last ``cap`` earlier rows in the window
        (NaN padded)."""
        start = self.start(window)
        sorted_values = values[self.order]
        lag = np.arange(1, cap + 1)
        idx = self.position[:, None] - lag[None, :]
        valid = idx >= start[:, None]
        return self._place(np.where(valid, sorted_values[np.maximum(idx, 0)], np.nan))


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(code of each value, number of distinct values), codes numbering the sorted distinct
    values from 0: what ``pd.factorize(values, sort=True, use_na_sentinel=False)`` gives, for
    integers or strings."""
    if len(values) <= SMALL_VALUES:  # in Python / by ``np.unique``
        if values.dtype == object:
            items = values.tolist()
            if all(type(v) is str for v in items):
                index = {v: i for i, v in enumerate(sorted(set(items)))}
                return np.fromiter(map(index.__getitem__, items), np.int64, len(items)), len(index)
        elif values.dtype.kind in "iu":
            uniques, inverse = np.unique(values, return_inverse=True)
            return inverse.astype(np.int64).reshape(-1), len(uniques)
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)


def _codes(
    df: pd.DataFrame,
    columns: list[str],
    factorized: dict[str, tuple[np.ndarray, int]] | None = None,
) -> np.ndarray:
    """Dense integer code (0..n-1) per distinct combination of ``columns``; dense codes keep
    ``code * span + time`` keys far from int64 overflow. ``factorized`` keeps each column's
    codes between calls on the same frame.

    Codes follow the sorted values, not the order rows arrive in: window sums are differences
    of prefix sums over all groups in code order, so the floating-point result of a group must
    not depend on where the database happened to return its rows.
    """
    codes = np.zeros(len(df), dtype=np.int64)
    for column in columns:
        if factorized is not None and column in factorized:
            values, n_values = factorized[column]
        else:
            values, n_values = _dense_codes(df[column].to_numpy())
            if factorized is not None:
                factorized[column] = (values, n_values)
        codes = codes * (n_values + 1) + values
        if len(columns) > 1:
            codes = _dense_codes(codes)[0]
    return codes


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _epoch_seconds(df: pd.DataFrame) -> np.ndarray:
    return epoch_seconds(df["occurred_at"])


# --- peer features: the merchant's and category's amounts, accounts linked by what they share ---


def _recent_in_group(
    codes: np.ndarray,
    present: np.ndarray,
    ts: np.ndarray,
    ids: np.ndarray,
    span: int,
    window: int,
    columns: list[np.ndarray],
) -> list[np.ndarray]:
    """For the rows where ``present``: ``(rows, PEER_CAP)`` matrices of each of ``columns`` over
    the last ``PEER_CAP`` earlier rows of the same group inside ``window`` (NaN padded), in the
    order of ``np.flatnonzero(present)``. Rows without the key are left out of every group."""
    rows = np.flatnonzero(present)
    group = _Group(codes[rows], ts[rows], ids[rows], span)
    return [group.recent_matrix(window, column[rows], PEER_CAP) for column in columns]


def _median_of_sorted(ordered: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Row medians of a NaN-padded matrix sorted along rows, ``n`` values per row (NaN if 0)."""
    rows = np.arange(len(ordered))
    lo = ordered[rows, np.maximum((n - 1) // 2, 0)]
    hi = ordered[rows, np.maximum(n // 2, 0)]
    return np.where(n > 0, (lo + hi) / 2, np.nan)


def _amount_against(recent: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
    """The amount against a matrix of earlier amounts: ratio to their median, percentile among
    them and a robust z-score of the log amount (median and MAD); NaN below PEER_MIN_HISTORY."""
    n = np.sum(~np.isnan(recent), axis=1)
    ordered = np.sort(recent, axis=1)  # NaN padding sorts last
    logs = np.log1p(ordered)
    centre = _median_of_sorted(logs, n)
    spread = _median_of_sorted(np.sort(np.abs(logs - centre[:, None]), axis=1), n)
    enough = n >= PEER_MIN_HISTORY
    below = np.sum(recent < amount[:, None], axis=1) + 0.5 * np.sum(
        recent == amount[:, None], axis=1
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = amount / _median_of_sorted(ordered, n)
        zscore = (np.log1p(amount) - centre) / np.maximum(1.4826 * spread, MIN_LOG_SPREAD)
        percentile = below / np.maximum(n, 1)
    return {
        "ratio_median": np.where(enough, ratio, np.nan),
        "percentile": np.where(enough, percentile, np.nan),
        "zscore": np.where(enough, zscore, np.nan),
    }


def _distinct(matrix: np.ndarray, leave_out: np.ndarray | None = None) -> np.ndarray:
    """Distinct non-NaN values per row of ``matrix``, not counting the row's ``leave_out``."""
    if leave_out is not None:
        matrix = np.where(matrix == leave_out[:, None], np.nan, matrix)
    ordered = np.sort(matrix, axis=1)
    first = ~np.isnan(ordered)
    first[:, 1:] &= ordered[:, 1:] != ordered[:, :-1]
    return first.sum(axis=1).astype(float)


def _peer_amounts(df: pd.DataFrame, ts, ids, span, amount) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    lookback = int(LOOKBACK.total_seconds())
    for prefix, column in (("merchant", "merchant_id"), ("category", "merchant_category")):
        present = df[column].to_numpy() != ""
        (recent,) = _recent_in_group(
            _codes(df, [column]), present, ts, ids, span, lookback, [amount]
        )
        figures = _amount_against(recent, amount[present])
        for name, values in figures.items():
            full = np.full(len(df), np.nan)
            full[present] = values
            out[f"{prefix}_amount_{name}"] = full
    return out


def _links(df: pd.DataFrame, ts, ids, span, account_codes) -> dict[str, np.ndarray]:
    """Accounts linked through what they share, from the rows before each transaction.

    * ``device_accounts_24h`` / ``counterparty_accounts_24h``: other accounts that used this
      device / paid this counterparty in the last 24 h (fan-in); NaN without one.
    * ``merchant_accounts_1h``: other accounts that paid this merchant in the last hour.
    * ``account_counterparties_24h``: distinct counterparties this account paid in 24 h, this
      payment included (fan-out).
    * ``ring_size_24h``: the account plus the most other accounts any of its payments of the last
      24 h (this one included) shared a device or counterparty with in the 24 h before that
      payment: five accounts on one phone make a ring of 5 at the fifth.

    Each count reads the last ``PEER_CAP`` earlier rows of the device / counterparty / merchant
    (or of the account), so it tops out at ``PEER_CAP`` on very busy ones.
    """
    n = len(df)
    accounts = account_codes.astype(float)
    out: dict[str, np.ndarray] = {}
    neighbours = []
    for label, column in (("device", "device_id"), ("counterparty", "counterparty_id")):
        present = df[column].to_numpy() != ""
        (recent,) = _recent_in_group(
            _codes(df, [column]), present, ts, ids, span, LINK_WINDOW, [accounts]
        )
        full = np.full(n, np.nan)
        full[present] = _distinct(recent, accounts[present])
        out[f"{label}_accounts_24h"] = full
        matrix = np.full((n, PEER_CAP), np.nan)
        matrix[present] = recent
        neighbours.append(matrix)
    # Other accounts sharing this row's device or counterparty (either of them).
    linked = _distinct(np.concatenate(neighbours, axis=1), accounts)
    del neighbours

    present = df["merchant_id"].to_numpy() != ""
    (recent,) = _recent_in_group(
        _codes(df, ["merchant_id"]), present, ts, ids, span, MERCHANT_LINK_WINDOW, [accounts]
    )
    out["merchant_accounts_1h"] = np.full(n, np.nan)
    out["merchant_accounts_1h"][present] = _distinct(recent, accounts[present])

    everyone = np.ones(n, dtype=bool)
    has_cp = df["counterparty_id"].to_numpy() != ""
    counterparty = np.where(has_cp, _codes(df, ["counterparty_id"]).astype(float), np.nan)
    paid, earlier_links = _recent_in_group(
        account_codes, everyone, ts, ids, span, LINK_WINDOW, [counterparty, linked]
    )
    out["account_counterparties_24h"] = _distinct(
        np.concatenate([paid, counterparty[:, None]], axis=1)
    )
    most = np.max(np.where(np.isnan(earlier_links), 0.0, earlier_links), axis=1, initial=0.0)
    out["ring_size_24h"] = 1 + np.maximum(linked, most)
    return out


def _behavioural(
    df: pd.DataFrame, *, peers: bool = False, at: np.ndarray | None = None
) -> pd.DataFrame:
    """The ``FEATURE_NAMES`` block (and the peer families with ``peers``) of the rows at frame
    positions ``at`` (default: every row), indexed by those rows; each from the rows before it.
    """
    names = [*FEATURE_NAMES, *PEER_FEATURE_NAMES] if peers else FEATURE_NAMES
    rows = np.arange(len(df)) if at is None else at
    return float_frame(_behavioural_columns(df, peers=peers, at=at), names, df.index[rows])


def _behavioural_columns(
    df: pd.DataFrame,
    *,
    peers: bool = False,
    at: np.ndarray | None = None,
    shared: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`_behavioural`'s columns by name, one value per row at ``at``. ``shared``, when
    given, receives the account grouping (``"account"``), which the reference amounts of the
    same frame and rows reuse instead of grouping again."""
    epoch = _epoch_seconds(df)
    ts = epoch - epoch.min()
    ids = df["id"].to_numpy()
    lookback = int(LOOKBACK.total_seconds())
    span = int(ts.max()) + 2 * lookback + 2
    if peers and at is not None:
        raise ValueError("The peer families are computed for every row of the frame.")
    rows = np.arange(len(df)) if at is None else at
    factorized: dict[str, tuple[np.ndarray, int]] = {}
    by_time = np.lexsort((ids, ts))

    def codes_of(columns: list[str]) -> np.ndarray:
        return _codes(df, columns, factorized)

    def group(columns: list[str] | np.ndarray) -> _Group:
        codes = columns if isinstance(columns, np.ndarray) else codes_of(columns)
        return _Group(codes, ts, ids, span, at, by_time)

    every_amount = df["amount"].to_numpy()
    amount = every_amount[rows]
    account_codes = codes_of(["account_id"])
    account = group(account_codes)
    if shared is not None:
        shared["account"] = account
    out: dict[str, np.ndarray] = {"amount_log": np.log1p(amount)}

    n30 = account.count(lookback)
    sum30 = account.sum(lookback, every_amount)
    sumsq30 = account.sum(lookback, every_amount**2)
    recent = account.recent_matrix(lookback, every_amount, HISTORY_CAP)
    n_recent = np.minimum(n30, HISTORY_CAP).astype(np.int64)
    ordered = np.sort(recent, axis=1)  # NaN padding sorts last
    positions = np.arange(len(amount))
    lo = ordered[positions, np.maximum((n_recent - 1) // 2, 0)]
    hi = ordered[positions, np.maximum(n_recent // 2, 0)]
    has = n_recent > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        median = np.where(has, (lo + hi) / 2, np.nan)
        maximum = np.where(has, ordered[positions, np.maximum(n_recent - 1, 0)], np.nan)
        below = np.sum(recent < amount[:, None], axis=1) + 0.5 * np.sum(
            recent == amount[:, None], axis=1
        )
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
        out["amount_ratio_median_30d"] = amount / median
        out["amount_percentile_30d"] = np.where(has, below / np.maximum(n_recent, 1), np.nan)
        out["amount_ratio_max_30d"] = amount / maximum
    out["history_count_30d"] = n30

    for name, seconds in VELOCITY_WINDOWS:
        out[f"count_{name}"] = account.count(seconds)
        out[f"amount_sum_{name}_log"] = np.log1p(account.sum(seconds, every_amount))
    # Today's pace against the account's usual daily pace over the window (+1 smoothing).
    out["count_24h_vs_usual"] = (out["count_24h"] + 1) / (n30 / 30 + 1)
    _, gap = account.previous(lookback)
    out["seconds_since_prev_log"] = np.log1p(gap)

    # UTC hour, minute and weekday from the epoch seconds (1970-01-01 was a Thursday): the
    # same integers as the ``.dt`` accessors, at a fraction of their cost on small frames.
    every_hour = epoch // HOUR % 24
    every_angle = 2 * np.pi * (every_hour + (epoch // MINUTE % 60) / 60) / 24
    angle = every_angle[rows]
    out["hour_sin"] = np.sin(angle)
    out["hour_cos"] = np.cos(angle)
    hour_slot = (every_hour // 3).astype(np.int64)
    same_slot = group(account_codes * 8 + hour_slot).count(lookback)
    weekday = (epoch // DAY + 3) % 7
    same_weekday = group(account_codes * 7 + weekday).count(lookback)
    sin_sum = account.sum(lookback, np.sin(every_angle))
    cos_sum = account.sum(lookback, np.cos(every_angle))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["hour_share_30d"] = np.where(n30 > 0, same_slot / n30, np.nan)
        out["weekday_share_30d"] = np.where(n30 > 0, same_weekday / n30, np.nan)
        usual_angle = np.arctan2(sin_sum, cos_sum)
        diff = np.abs(np.angle(np.exp(1j * (angle - usual_angle))))
        out["hour_distance_from_usual"] = np.where(n30 > 0, diff * 24 / (2 * np.pi), np.nan)

    # Distinct merchants/countries/devices first seen in the last 24 h, this one included: the
    # novelty flag of every earlier row of the day, not only of the evaluated ones.
    every_n30 = account.count_everywhere(lookback) if at is not None else n30
    for label, column in _NOVELTY:
        present = df[column].to_numpy() != ""
        by_value = group(["account_id", column])
        seen = by_value.count(lookback)
        known = present[rows] & (n30 > 0)
        out[f"new_{label}_30d"] = np.where(known, (seen == 0).astype(float), np.nan)
        if column == "merchant_category":
            with np.errstate(divide="ignore", invalid="ignore"):
                out["category_share_30d"] = np.where(known, seen / n30, np.nan)
        plural = _NEW_IN_A_DAY.get(label)
        if plural is not None:
            if at is None:
                every_flag = out[f"new_{label}_30d"]
            else:
                every_seen = by_value.count_everywhere(lookback)
                every_flag = np.where(present & (every_n30 > 0), every_seen == 0, np.nan)
            every_flag = np.nan_to_num(every_flag.astype(float), nan=0.0)
            out[f"new_{plural}_24h"] = account.sum(DAY, every_flag) + every_flag[rows]

    has_geo = ~np.isnan(df["latitude"].to_numpy()) & ~np.isnan(df["longitude"].to_numpy())
    lat = np.where(has_geo, df["latitude"].to_numpy(), 0.0)
    lon = np.where(has_geo, df["longitude"].to_numpy(), 0.0)
    # Geo aggregates only over geolocated rows: a separate group per (account, has_geo).
    geo = group(account_codes * 2 + has_geo.astype(np.int64))
    n_geo = geo.count(lookback)
    with np.errstate(divide="ignore", invalid="ignore"):
        usual_lat = geo.sum(lookback, lat) / n_geo
        usual_lon = geo.sum(lookback, lon) / n_geo
    here_geo, here_lat, here_lon = has_geo[rows], lat[rows], lon[rows]
    distance = _haversine_km(here_lat, here_lon, usual_lat, usual_lon)
    out["distance_from_usual_km"] = np.where(here_geo & (n_geo > 0), distance, np.nan)
    prev_idx, prev_gap = geo.previous(lookback)
    has_prev = here_geo & (prev_idx >= 0)
    safe = np.maximum(prev_idx, 0)
    step = _haversine_km(here_lat, here_lon, lat[safe], lon[safe])
    out["distance_from_prev_km"] = np.where(has_prev, step, np.nan)
    # Implied speed; a one-minute floor on the gap avoids dividing by zero for same-second pairs.
    out["speed_from_prev_kmh"] = np.where(
        has_prev, step / (np.maximum(np.nan_to_num(prev_gap), 60.0) / HOUR), np.nan
    )

    # How busy the counterparty has been across all accounts in the last 24 h (several accounts
    # paying one mule within a day).
    has_cp = (df["counterparty_id"].to_numpy() != "")[rows]
    cp_recent = group(["counterparty_id"]).count(DAY)
    out["counterparty_count_24h"] = np.where(has_cp, cp_recent, np.nan)

    channel = np.array([c.lower() for c in df["channel"].to_numpy()[rows].tolist()], dtype=object)
    out["channel_ecom"] = (channel == "ecom").astype(float)
    out["channel_atm"] = (channel == "atm").astype(float)
    if peers:
        out.update(_peer_amounts(df, ts, ids, span, every_amount))
        out.update(_links(df, ts, ids, span, account_codes))
    return out


# --- learned fraud rates --------------------------------------------------------------------


def _smoothed(fraud: np.ndarray, total: np.ndarray, prior: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (fraud + RATE_SMOOTHING * prior) / (total + RATE_SMOOTHING)


def rate_tables(frame: pd.DataFrame, *, as_of: pd.Timestamp | None = None) -> dict[str, Any]:
    """Smoothed merchant and category fraud rates from the labels known at ``as_of`` (default:
    the frame's last transaction), i.e. of transactions at least ``LABEL_DELAY`` older."""
    df = _prepare(frame)
    labels = pd.to_numeric(frame.get("is_fraud"), errors="coerce") if "is_fraud" in frame else None
    if labels is None:
        return {"prior": None, "tables": {name: {} for name in RATE_FEATURES}}
    as_of = as_of if as_of is not None else df["occurred_at"].max()
    known = labels.notna().to_numpy() & (df["occurred_at"] + LABEL_DELAY <= as_of).to_numpy()
    if not known.any():
        return {"prior": None, "tables": {name: {} for name in RATE_FEATURES}}
    y = labels.to_numpy()[known].astype(float)
    prior = float(y.mean())
    tables: dict[str, dict[str, float]] = {}
    for name, column in _RATE_COLUMNS.items():
        keys = df[column].to_numpy()[known]
        grouped = pd.DataFrame({"k": keys, "y": y}).groupby("k")["y"].agg(["sum", "count"])
        grouped = grouped[grouped.index != ""]
        rates = _smoothed(grouped["sum"].to_numpy(), grouped["count"].to_numpy(), prior)
        tables[name] = dict(zip(grouped.index, map(float, rates), strict=True))
    return {"prior": prior, "tables": tables}


def _rates_from_tables(df: pd.DataFrame, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The frozen fraud rate of each row's merchant and category (the prior for one the table
    does not hold; missing for a row without one), by feature name."""
    out: dict[str, np.ndarray] = {}
    prior = spec.get("prior")
    for name, column in _RATE_COLUMNS.items():
        if prior is None:
            out[name] = np.full(len(df), np.nan)
            continue
        rate = lookup(df[column], spec["tables"].get(name, {}))
        rate = np.where(np.isnan(rate), prior, rate)
        out[name] = np.where(df[column].to_numpy() != "", rate, np.nan)
    return out


def _rates_as_of_each_row(df: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Training: each row's rates from the labels known before it (``LABEL_DELAY`` after the
    labelled transaction), never its own or a later one's."""
    epoch = _epoch_seconds(df)
    known = labels.notna().to_numpy()
    y = np.nan_to_num(labels.to_numpy(dtype=float), nan=0.0)
    delay = int(LABEL_DELAY.total_seconds())
    # Global prior: labels known strictly before each row's time.
    known_at = np.sort(epoch[known] + delay)
    order = np.argsort(epoch[known] + delay, kind="stable")
    fraud_prefix = np.concatenate([[0.0], np.cumsum(y[known][order])])
    n_known = np.searchsorted(known_at, epoch, side="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = np.where(n_known > 0, fraud_prefix[n_known] / n_known, np.nan)
    out = pd.DataFrame(index=df.index)
    base = int(epoch.min()) if len(epoch) else 0
    span = int(epoch.max() - base) + delay + 2 if len(epoch) else 1
    for name, column in _RATE_COLUMNS.items():
        codes = _codes(df, [column])
        k_codes = codes[known]
        k_time = epoch[known] - base + delay
        k_order = np.lexsort((k_time, k_codes))
        keys = k_codes[k_order].astype(np.int64) * span + k_time[k_order]
        k_fraud = np.concatenate([[0.0], np.cumsum(y[known][k_order])])
        query = codes.astype(np.int64) * span + (epoch - base)
        upto = np.searchsorted(keys, query, side="left")
        first = np.searchsorted(keys, codes.astype(np.int64) * span, side="left")
        total = (upto - first).astype(float)
        fraud = k_fraud[upto] - k_fraud[first]
        rate = _smoothed(fraud, total, prior)
        out[name] = np.where((df[column].to_numpy() != "") & ~np.isnan(prior), rate, np.nan)
    return out


# --- reference amounts ----------------------------------------------------------------------


def _robust_spread(values: pd.Series) -> float:
    return float(1.4826 * (values - values.median()).abs().median())


def amount_tables(frame: pd.DataFrame) -> dict[str, Any] | None:
    """Usual amounts of the training traffic, for ``REFERENCE_AMOUNT_FEATURES``: per category the
    median and robust spread (1.4826 x MAD, at least ``MIN_LOG_SPREAD``) of log1p(amount), and
    per merchant with ``REFERENCE_MIN_ROWS`` payments or more (the ``MAX_REFERENCE_MERCHANTS``
    busiest) its median shrunk towards its category's. No label is read. None for an empty
    frame."""
    df = _prepare(frame)
    x = np.log1p(df["amount"].clip(lower=0))
    ok = x.notna().to_numpy()
    if not ok.any():
        return None
    x = x[ok]
    category = df.loc[ok, "merchant_category"]
    overall = {"median": float(x.median()), "spread": max(_robust_spread(x), MIN_LOG_SPREAD)}
    by_category = x.groupby(category)
    medians = by_category.median()
    spreads = by_category.apply(_robust_spread).clip(lower=MIN_LOG_SPREAD)
    categories = {
        str(k): {"median": float(medians[k]), "spread": float(spreads[k])}
        for k in medians.index
        if k != ""
    }
    merchant = df.loc[ok, "merchant_id"]
    stats = pd.DataFrame({"x": x, "m": merchant, "c": category}).groupby("m")
    per = stats.agg(n=("x", "size"), median=("x", "median"), c=("c", "first"))
    per = per[(per.index != "") & (per["n"] >= REFERENCE_MIN_ROWS)]
    per = per.sort_values("n", ascending=False, kind="stable").head(MAX_REFERENCE_MERCHANTS)
    prior = per["c"].map({k: v["median"] for k, v in categories.items()}).fillna(overall["median"])
    shrunk = (per["n"] * per["median"] + REFERENCE_SHRINKAGE * prior) / (
        per["n"] + REFERENCE_SHRINKAGE
    )
    merchants = {str(k): float(v) for k, v in shrunk.items()}
    return {"overall": overall, "categories": categories, "merchants": merchants}


def _reference_amounts(
    df: pd.DataFrame,
    tables: dict[str, Any],
    at: np.ndarray | None = None,
    account: _Group | None = None,
) -> dict[str, np.ndarray]:
    """``REFERENCE_AMOUNT_FEATURES`` from frozen ``amount_tables``, of the rows at positions
    ``at`` (default every row), by name; the account's own level reads its earlier rows inside
    ``LOOKBACK`` only (the rows live scoring loads). ``account``: the same frame's account
    grouping at the same rows, when :func:`_behavioural_columns` has made it."""
    every_amount = df["amount"].to_numpy(dtype=float)
    x = np.log1p(np.where(every_amount < 0, 0.0, every_amount))  # NaN stays NaN
    overall = tables["overall"]
    categories = tables["categories"]
    cat = df["merchant_category"]
    cat_median = lookup(cat, {k: v["median"] for k, v in categories.items()})
    cat_median = np.where(np.isnan(cat_median), overall["median"], cat_median)
    cat_spread = lookup(cat, {k: v["spread"] for k, v in categories.items()})
    cat_spread = np.where(np.isnan(cat_spread), overall["spread"], cat_spread)
    merchant = lookup(df["merchant_id"], tables["merchants"])
    reference = np.where(np.isnan(merchant), cat_median, merchant)
    residual = (x - reference) / cat_spread
    known = np.isfinite(residual)
    r = np.where(known, residual, 0.0)
    lookback = int(LOOKBACK.total_seconds())
    if account is None:
        epoch = _epoch_seconds(df)
        ts = epoch - epoch.min()
        span = int(ts.max()) + 2 * lookback + 2
        account = _Group(_codes(df, ["account_id"]), ts, df["id"].to_numpy(), span, at)
    n = account.sum(lookback, known.astype(float))
    level = account.sum(lookback, r) / np.where(n > 0, n, np.nan)
    square = account.sum(lookback, r * r) / np.where(n > 0, n, np.nan)
    spread = np.sqrt(np.maximum(square - level * level, 0.0))
    rows = np.arange(len(df)) if at is None else at
    above = residual[rows] - level
    amount = every_amount[rows]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        own_usual = np.expm1(reference[rows] + level * cat_spread[rows])
        ratio = np.where(n > 0, amount / own_usual, np.nan)
        z = np.where(n >= 2, above / np.maximum(spread, MIN_LEVEL_SPREAD), np.nan)
    return {"amount_ratio_own_level": ratio, "amount_own_level_z": z}


# --- partner metadata -----------------------------------------------------------------------


def _metadata_frame(frame: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    if "metadata" not in frame:
        return pd.DataFrame(index=index)
    records = [m if isinstance(m, dict) else {} for m in frame["metadata"].tolist()]
    if not any(records):
        return pd.DataFrame(index=index)
    return pd.DataFrame.from_records(records, index=index)


def metadata_feature_name(key: str) -> str:
    """``meta_<key>`` with the key reduced to lowercase letters, digits and underscores."""
    return METADATA_PREFIX + (re.sub(r"[^0-9a-z]+", "_", str(key).lower()).strip("_") or "key")


def _numeric(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values.astype(float)
    mapped = values.map(lambda v: float(v) if isinstance(v, bool) else v)
    return pd.to_numeric(mapped, errors="coerce")


def _varies_within_accounts(values: pd.Series, account: pd.Series) -> bool | None:
    """Whether a key changes within accounts about as often as it would if its values were
    dealt out at random: ``False`` for a customer attribute (home zip, city size: never changes
    within an account while it differs between accounts), ``None`` when no account has two rows
    with the key (nothing to judge by, e.g. one row per account)."""
    owners = account[values.index].to_numpy()
    repeated = pd.Series(owners).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return None
    owners, observed = owners[repeated], values.to_numpy()[repeated]
    dealt = np.random.default_rng(0).permutation(observed)

    def varying_share(v: np.ndarray) -> float:
        return float((pd.Series(v).groupby(owners).nunique() > 1).mean())

    expected = varying_share(dealt)
    return expected == 0 or varying_share(observed) > CONSTANT_KEY_SHARE * expected


def _signal(values: pd.Series, labels: pd.Series) -> float:
    """How well a key alone ranks the labelled rows: 2·|AUC − 0.5| of the fraud rate of its
    quantile bin (``SIGNAL_BINS`` bins; a missing value is one more bin), from 0 (none) to 1."""
    v = values.reindex(labels.index)
    y = labels.to_numpy(dtype=float)
    ranks = v.rank(method="first").to_numpy()
    n = max(int(v.notna().sum()), 1)
    bins = np.where(np.isnan(ranks), -1, np.floor((ranks - 1) * SIGNAL_BINS / n))
    rate = pd.Series(y).groupby(bins).transform("mean").to_numpy()
    positives = y == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    order = pd.Series(rate).rank(method="average").to_numpy()
    auc = (order[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return round(float(2 * abs(auc - 0.5)), 4)


def _signal_labels(frame: pd.DataFrame) -> pd.Series | None:
    """Labels the signal of metadata keys may be judged on: the labelled rows before the
    validation slice (``scoring.engine.ensemble.validation_cut``), with both classes present."""
    if "is_fraud" not in frame:
        return None
    labels = pd.to_numeric(frame["is_fraud"], errors="coerce").dropna()
    times = pd.to_datetime(frame.loc[labels.index, "occurred_at"], utc=True)
    labels = labels.loc[times.sort_values(kind="stable").index]
    labels = labels.iloc[: validation_cut(len(labels))]
    if labels.sum() < SIGNAL_MIN_POSITIVES or (labels == 0).sum() < SIGNAL_MIN_POSITIVES:
        return None
    return labels


def select_metadata_keys(
    frame: pd.DataFrame, *, report: dict[str, Any] | None = None
) -> dict[str, str]:
    """Numeric metadata keys worth using as features: ``{key: feature name}``.

    A key qualifies when at least 1 % of rows carry it and 95 % of its values are numbers. Keys
    that describe the customer rather than the transaction are left out because they let a model
    memorise who was defrauded instead of learning what fraud looks like: a key that does not
    change within an account while it differs between accounts (home coordinates, zip code, city
    size, date of birth; judged on the accounts with two rows or more, so a data set with one row
    per account keeps its keys) and a key that merely counts time (an epoch timestamp).

    With labels (both classes, on the rows before the validation slice), the qualifying keys are
    ranked by their signal (:func:`_signal`) and the ``MAX_METADATA_FEATURES`` strongest kept;
    without, by name. ``report`` (a dict) receives ``by`` (``signal`` or ``name``), ``signal``
    per qualifying key and ``left_out`` (key → why).
    """
    report = {} if report is None else report
    report.update(by="name", signal={}, left_out={})
    meta = _metadata_frame(frame, frame.index)
    if meta.empty:
        return {}
    account = frame["account_id"].astype(str)
    epoch = pd.to_datetime(frame["occurred_at"], utc=True).astype("int64").astype(float)
    qualifying: dict[str, pd.Series] = {}
    left_out: dict[str, str] = report["left_out"]
    for key in sorted(meta.columns, key=str):
        raw = meta[key]
        present = raw.notna()
        if present.sum() < max(1, 0.01 * len(raw)):
            left_out[str(key)] = "on fewer than 1 % of rows"
            continue
        values = _numeric(raw[present])
        if values.notna().mean() < 0.95:
            left_out[str(key)] = "not a number"
            continue
        values = values.dropna()
        if values.nunique() < 2:
            left_out[str(key)] = "a single value"
            continue
        if _varies_within_accounts(values, account) is False:
            left_out[str(key)] = "constant within each account (describes the customer)"
            continue
        if abs(float(np.corrcoef(values.to_numpy(), epoch[values.index].to_numpy())[0, 1])) > 0.98:
            left_out[str(key)] = "counts time"
            continue
        qualifying[str(key)] = values
    labels = _signal_labels(frame)
    ranked = list(qualifying)
    if labels is not None:
        report["by"] = "signal"
        report["signal"] = {k: _signal(v, labels) for k, v in qualifying.items()}
        ranked.sort(key=lambda k: -report["signal"][k])
    chosen: dict[str, str] = {}
    for key in ranked:
        name = metadata_feature_name(key)
        if name in chosen.values():
            left_out[key] = f"same feature name ({name}) as a key kept"
        elif len(chosen) >= MAX_METADATA_FEATURES:
            left_out[key] = f"weaker than the {MAX_METADATA_FEATURES} keys kept"
        else:
            chosen[key] = name
    return chosen


def _metadata_features(frame: pd.DataFrame, keys: dict[str, str]) -> dict[str, np.ndarray]:
    """The chosen numeric metadata keys of each row of ``frame`` as floats, by feature name."""
    if not keys:  # a model without metadata features: the JSON is not even looked at
        return {}
    meta = _metadata_frame(frame, frame.index)
    return {
        name: _numeric(meta[key]).to_numpy(dtype=float)
        if key in meta
        else np.full(len(frame), np.nan)
        for key, name in keys.items()
    }


# --- entry points ---------------------------------------------------------------------------


def feature_spec(frame: pd.DataFrame) -> dict[str, Any]:
    """What a model trained on ``frame`` uses beyond the behavioural features: the rate tables
    (labels known at the end of ``frame``) and the chosen metadata keys. Stored in the artifact."""
    rates = rate_tables(frame)
    selection: dict[str, Any] = {}
    metadata_keys = select_metadata_keys(frame, report=selection) if not frame.empty else {}
    amounts = amount_tables(frame) if not frame.empty else None
    names = [*FEATURE_NAMES]
    if rates["prior"] is not None:
        names += RATE_FEATURES
    if amounts is not None:
        names += REFERENCE_AMOUNT_FEATURES
    names += list(metadata_keys.values())
    return {
        "feature_names": names,
        "rates": rates,
        "amounts": amounts,
        "metadata_keys": metadata_keys,
        "metadata_selection": selection,
    }


def compute_features(
    frame: pd.DataFrame,
    artifact: dict[str, Any] | None = None,
    *,
    behavioural: pd.DataFrame | None = None,
    rows: pd.Index | None = None,
) -> pd.DataFrame:
    """Feature matrix of the rows ``rows`` of ``frame`` (labels of its index; default every row),
    indexed by them.

    ``frame`` holds the transactions to featurise *and* their accounts' history; each row's
    features come from the rows before it, and are the same whichever ``rows`` are asked for
    (the worker asks for its batch only: the history rows it loaded are not featurised).
    Missing inputs give NaN, which the model handles.
    Without ``artifact``: the behavioural ``FEATURE_NAMES``. With a model artifact: exactly its
    ``feature_names``, with merchant/category fraud rates from its frozen tables and its metadata
    keys (labels in ``frame`` are ignored). ``behavioural``: the ``FEATURE_NAMES`` block already
    computed on the same ``frame`` (it does not depend on the artifact), e.g. by the champion for
    the challenger's shadow scoring, indexed like the result.
    """
    spec = (artifact or {}).get("feature_spec")
    names = list(artifact["feature_names"]) if artifact else list(FEATURE_NAMES)
    at = None
    if rows is not None:
        at = frame.index.get_indexer(rows)
        if (at < 0).any():
            raise KeyError(f"Rows not in the frame: {list(rows[at < 0][:5])}")
    index = frame.index if at is None else frame.index[at]
    if frame.empty or len(index) == 0:
        return pd.DataFrame(columns=names, index=index, dtype=float)
    df = _prepare(frame)
    shared: dict[str, Any] = {}
    if behavioural is None:
        columns = _behavioural_columns(df, at=at, shared=shared)
    else:
        block = behavioural[FEATURE_NAMES].to_numpy(dtype=float)
        columns = {name: block[:, j] for j, name in enumerate(FEATURE_NAMES)}
    if spec is None:  # no artifact, or one from before learned rates and metadata existed
        return _finite(float_frame(columns, names, index))
    # Row-local columns: of the wanted rows only. Each part gives its columns by name, put side
    # by side in ``names`` order in one float block (a frame per part cost ~60 µs each).
    wanted_df = df if at is None else df.iloc[at]
    wanted = frame if at is None else frame.iloc[at]
    if any(name in RATE_FEATURES for name in names):
        columns.update(_rates_from_tables(wanted_df, spec["rates"]))
    if spec.get("amounts"):
        columns.update(_reference_amounts(df, spec["amounts"], at, shared.get("account")))
    columns.update(_metadata_features(wanted, spec["metadata_keys"]))
    if spec.get("raw"):  # the raw booster's columns (scoring.engine.raw_features)
        columns.update(raw_feature_columns(wanted, spec["raw"]))
    return _finite(float_frame(columns, names, index))


def compute_peer_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``PEER_FEATURE_NAMES`` of every row of ``frame`` (from the rows before it, every
    account's), for evaluation and tests; not part of the model (see ``PEER_FAMILIES``)."""
    if frame.empty:
        return pd.DataFrame(columns=PEER_FEATURE_NAMES, index=frame.index, dtype=float)
    return _finite(_behavioural(_prepare(frame), peers=True)[PEER_FEATURE_NAMES])


def _finite(features: pd.DataFrame) -> pd.DataFrame:
    """Infinities (a ratio over a zero, or prefix sums cancelling out around huge amounts) are
    missing values, as the model and the explanations expect: finite numbers or NaN."""
    values = features.to_numpy(dtype=float)
    if np.isinf(values).any():
        features = features.replace([np.inf, -np.inf], np.nan)
    return features


def compute_training_features(
    frame: pd.DataFrame, spec: dict[str, Any]
) -> tuple[pd.DataFrame, pd.Series]:
    """Features of every row of a labelled history for training, plus the label series.

    The same behavioural and metadata code as :func:`compute_features`; the fraud rates are
    computed as of each row from labels known by then, as they would have been live.
    """
    df = _prepare(frame)
    labels = (
        pd.to_numeric(frame["is_fraud"], errors="coerce")
        if "is_fraud" in frame
        else pd.Series(np.nan, index=frame.index)
    )
    names = spec["feature_names"]
    shared: dict[str, Any] = {}
    columns = _behavioural_columns(df, shared=shared)
    if any(name in RATE_FEATURES for name in names):
        rates = _rates_as_of_each_row(df, labels)
        columns.update({name: rates[name].to_numpy(dtype=float) for name in rates.columns})
    if spec.get("amounts"):
        columns.update(_reference_amounts(df, spec["amounts"], account=shared["account"]))
    columns.update(_metadata_features(frame, spec["metadata_keys"]))
    if spec.get("raw"):
        columns.update(raw_feature_columns(frame, spec["raw"]))
    return float_frame(columns, names, frame.index), labels


# --- what serving must load -----------------------------------------------------------------


def serving_history_mask(frame: pd.DataFrame, batch: pd.Index) -> np.ndarray:
    """The rows of a full history ``frame`` that the features of its ``batch`` rows read: the
    loading contract of live scoring, as an executable statement (not a hot path).

    With ``start``/``end`` the batch's first and last time: the batch accounts' rows, and the
    payments to the batch's counterparties, in ``[start - LOOKBACK, end]``; per merchant and per
    category of the batch, its rows in ``[start, end]`` and its last ``PEER_CAP`` rows before
    ``start`` inside ``LOOKBACK``; and every row in ``[start - 2 * LINK_WINDOW, end]`` with a
    device or counterparty that a batch account used in ``[start - LINK_WINDOW, end]`` (a ring's
    size reads the links of the account's own payments of the last day). Features computed on
    these rows equal, bit for bit, those computed on all of history.
    """
    df = _prepare(frame)
    at = df["occurred_at"]
    rows = df.loc[batch]
    start, end = at.loc[batch].min(), at.loc[batch].max()
    upto = (at <= end).to_numpy()

    def since(moment: pd.Timestamp) -> np.ndarray:
        return (at >= moment).to_numpy() & upto

    def among(column: str, values) -> np.ndarray:
        values = {v for v in values if v}
        return df[column].isin(values).to_numpy() & (df[column].to_numpy() != "")

    lookback = since(start - LOOKBACK)
    needed = lookback & (
        among("account_id", rows["account_id"]) | among("counterparty_id", rows["counterparty_id"])
    )
    order = np.lexsort((df["id"].to_numpy(), at.to_numpy()))
    for column in ("merchant_id", "merchant_category"):
        mine = among(column, rows[column])
        needed |= mine & since(start)
        before = mine & lookback & (at < start).to_numpy()
        sorted_rows = order[before[order]]
        last = df[column].to_numpy()[sorted_rows]
        rank_from_end = pd.Series(sorted_rows).groupby(last).cumcount(ascending=False).to_numpy()
        needed[sorted_rows[rank_from_end < PEER_CAP]] = True
    link = pd.Timedelta(seconds=LINK_WINDOW)
    own = among("account_id", rows["account_id"]) & since(start - link)
    shared = among("device_id", df.loc[own, "device_id"]) | among(
        "counterparty_id", df.loc[own, "counterparty_id"]
    )
    needed |= shared & since(start - 2 * link)
    return needed
