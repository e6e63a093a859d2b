"""Reason codes: which behaviours pushed each transaction's score up, in plain words.

Attribution by occlusion: for each reason (a group of related features) the batch is scored again
with that group set to its neutral value (median of legitimate training rows). Reasons are ranked
by the drop in log-odds, which still separates them when the probability is saturated (a
transaction that is suspicious for three independent reasons stays at 0.99 when any one of them is
removed); the reported weight is the drop in probability points. One extra vectorised prediction
per reason and batch; the words are written only for the rows and reasons that carry weight.

Every reason code has one label and one way of putting its evidence into words, both here: the
API, the case pages, the admin and alerts all read them from :data:`REASON_LABELS` /
:func:`reason_label`. A reason whose inputs are missing on a transaction (no coordinates, no
counterparty, no channel) is never offered for it: occlusion against "missing" is not evidence.
A reason whose words cannot state an observed value against the account's normal range (a 3-hour
slot that holds a third of its activity is not an unusual time) is left out too, and the next one
in rank takes its place. Baselines leave out the current burst: "usually N a day" counts the
account's activity before the last 24 hours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import (
    LINK_FEATURES,
    METADATA_PREFIX,
    PEER_AMOUNT_FEATURES,
    PEER_CAP,
    REFERENCE_AMOUNT_FEATURES,
)
from .ml import predict_proba

MAX_REASONS = 3
MIN_RISK = 0.01  # rows below one probability point get no reasons
MIN_LOG_ODDS = 0.05  # smallest log-odds drop that counts as a reason
# An hour of day is "unusual" only when it is this far from the account's usual time, or when this
# small a share of its recent activity falls in the same 3-hour slot.
UNUSUAL_HOUR_DISTANCE = 3.0
UNUSUAL_SLOT_SHARE = 0.15
# A merchant category is "unfamiliar" when it makes up at most this share of recent activity.
UNFAMILIAR_CATEGORY_SHARE = 0.10
RULE_PREFIX = "rule:"

# A reason's words from one transaction's features and raw fields: mappings (a dict per row when
# a batch is explained; a pandas row works too), read with ``.get`` only.
Text = Callable[[Mapping, Mapping], "str | None"]


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _num(row: pd.Series, name: str) -> float:
    value = row.get(name, np.nan)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return number if np.isfinite(number) else float("nan")


def _text(raw: pd.Series, column: str) -> str:
    """A raw text column, or "" when absent / blank / not text."""
    value = raw.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:,.1f}×"


def _per_day(count: float, days: float) -> str:
    rate = count / days
    if rate >= 1:
        return f"{rate:,.1f} a day"
    per_week = rate * 7
    return f"{per_week:,.1f} a week" if per_week >= 1 else "almost never"


def _amount_text(row: pd.Series, raw: pd.Series) -> str | None:
    try:
        amount = float(raw.get("amount"))
    except (TypeError, ValueError):
        return None
    if not np.isfinite(amount):
        return None
    ratio = _num(row, "amount_ratio_median_30d")
    basis = "median"
    if np.isnan(ratio) or ratio <= 0:
        ratio, basis = _num(row, "amount_ratio_mean_30d"), "average"
    if np.isnan(ratio) or ratio <= 0:
        return f"{amount:,.2f} on an account with no payments in the previous 30 days"
    usual = amount / ratio
    if not np.isfinite(usual):
        return None
    if ratio >= 1:
        text = f"{_times(ratio)} this account's {basis} ({amount:,.2f} vs {usual:,.2f})"
        if _num(row, "amount_ratio_max_30d") > 1:
            text += ", its largest in 30 days"
        category = _text(raw, "merchant_category")
        own = _against(
            _num(row, "amount_ratio_own_level"),
            amount,
            f"what it usually pays for {category}" if category else "what it usually pays here",
        )
        if own and _num(row, "amount_ratio_own_level") >= 2:
            text += f"; {own}"
        return text
    share = f"{ratio:.2f}×" if ratio >= 0.01 else "under 1 %"
    return (
        f"{amount:,.2f}, only {share} of this account's {basis} of {usual:,.2f} "
        "(small amounts can be card testing)"
    )


def _velocity_text(row: pd.Series, raw: pd.Series) -> str | None:
    counts = [_num(row, n) for n in ("count_10m", "count_1h", "count_24h")]
    if any(np.isnan(c) for c in counts):
        return None
    c10, c1h, c24 = (int(c) for c in counts)
    if c10:
        text = f"{_ordinal(c10 + 1)} transaction in 10 min"
    elif c1h:
        text = f"{_ordinal(c1h + 1)} transaction in an hour"
    elif c24:
        text = f"{_ordinal(c24 + 1)} transaction in 24 h"
    else:
        gap = np.expm1(min(_num(row, "seconds_since_prev_log"), 50.0))
        if np.isnan(gap) or not 0 <= gap < 600:
            return None
        text = "a quick repeat"
    # The baseline is the account's pace before the current 24 h, so a burst never raises the
    # "usual" figure it is compared with.
    history = _num(row, "history_count_30d")
    if not np.isnan(history):
        before = max(history - c24, 0)
        text += (
            f"; before today it made {_per_day(before, 29)}"
            if before
            else "; no other transactions in the previous 29 days"
        )
    gap = np.expm1(min(_num(row, "seconds_since_prev_log"), 50.0))
    if not np.isnan(gap) and 0 <= gap < 600:
        text += f"; {gap:.0f} s after the previous one"
    return text


def _hour_text(row: pd.Series, raw: pd.Series) -> str | None:
    try:
        at = pd.Timestamp(raw.get("occurred_at"))
    except (TypeError, ValueError):
        return None
    if pd.isna(at):
        return None
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    distance = _num(row, "hour_distance_from_usual")
    share = _num(row, "hour_share_30d")
    if np.isnan(distance) or np.isnan(share):
        return None
    if distance < UNUSUAL_HOUR_DISTANCE and share > UNUSUAL_SLOT_SHARE:
        return None  # an ordinary time for this account: not evidence
    slot = at.hour // 3 * 3
    return (
        f"at {at:%H:%M} UTC, {distance:.0f} h from this account's usual time of day; "
        f"{share:.0%} of its last 30 days' transactions fall between "
        f"{slot:02d}:00 and {slot + 3:02d}:00"
    )


def _novelty_text(label: str, plural: str, column: str) -> Text:
    def text(row: pd.Series, raw: pd.Series) -> str | None:
        value = _text(raw, column)
        recent = _num(row, f"new_{plural}_24h")
        if _num(row, f"new_{label}_30d") == 1 and value:
            if not np.isnan(recent) and recent >= 2:
                return f"{_ordinal(int(recent))} new {label} in 24 h ({value})"
            return f"first {label} {value} for this account in 30 days"
        if not np.isnan(recent) and recent >= 2:
            return f"{int(recent)} new {plural} in 24 h"
        return None

    return text


def _merchant_text(row: pd.Series, raw: pd.Series) -> str | None:
    merchant = _text(raw, "merchant_id")
    category = _text(raw, "merchant_category")
    recent = _num(row, "new_merchants_24h")
    if merchant and _num(row, "new_merchant_30d") == 1:
        if not np.isnan(recent) and recent >= 2:
            return f"{_ordinal(int(recent))} new merchant in 24 h ({merchant})"
        return f"first payment to merchant {merchant} in 30 days"
    if category and _num(row, "new_category_30d") == 1:
        return f"first {category} purchase in 30 days"
    share = _num(row, "category_share_30d")
    if category and not np.isnan(share) and share <= UNFAMILIAR_CATEGORY_SHARE:
        return f"{category} is only {share:.0%} of this account's transactions in 30 days"
    return None


def _location_text(row: pd.Series, raw: pd.Series) -> str | None:
    step = _num(row, "distance_from_prev_km")
    speed = _num(row, "speed_from_prev_kmh")
    usual = _num(row, "distance_from_usual_km")
    if not np.isnan(speed) and not np.isnan(step) and speed > 900:
        return f"{step:,.0f} km from the previous transaction, an implied {speed:,.0f} km/h"
    if not np.isnan(usual) and usual >= 1:
        return f"{usual:,.0f} km from this account's usual location"
    return None


def _counterparty_text(row: pd.Series, raw: pd.Series) -> str | None:
    counterparty = _text(raw, "counterparty_id")
    if not counterparty:
        return None
    parts = []
    if _num(row, "new_counterparty_30d") == 1:
        parts.append(f"first payment to {counterparty} in 30 days")
    count = _num(row, "counterparty_count_24h")
    if not np.isnan(count) and count >= 1:
        who = "it" if parts else counterparty
        parts.append(f"{int(count)} other payments to {who} from any account in 24 h")
    return "; ".join(parts) or None


def _against(ratio: float, amount: float, whose: str) -> str | None:
    """``14× this merchant's median (1,400.00 vs 100.00)``, or None without a usable ratio."""
    if np.isnan(ratio) or ratio <= 0 or not np.isfinite(amount / ratio):
        return None
    usual = amount / ratio
    times = _times(ratio) if ratio >= 1 else f"{ratio:.2f}×" if ratio >= 0.01 else "under 1 % of"
    return f"{times} {whose} ({amount:,.2f} vs {usual:,.2f})"


def _peer_amount_text(row: pd.Series, raw: pd.Series) -> str | None:
    try:
        amount = float(raw.get("amount"))
    except (TypeError, ValueError):
        return None
    if not np.isfinite(amount) or amount <= 0:
        return None
    category = _text(raw, "merchant_category")
    parts = []
    merchant = _against(_num(row, "merchant_amount_ratio_median"), amount, "this merchant's median")
    if merchant:
        share = _num(row, "merchant_amount_percentile")
        if not np.isnan(share) and share >= 0.9:
            merchant += f", above {share:.0%} of its recent payments"
        parts.append(merchant)
    if category:
        whose = f"the median {category} payment"
        parts.append(_against(_num(row, "category_amount_ratio_median"), amount, whose))
    return "; ".join(p for p in parts if p) or None


def _accounts(count: float) -> str:
    many = "at least " if count >= PEER_CAP else ""
    return f"{many}{int(count)} other account{'s' if count != 1 else ''}"


def _links_text(row: pd.Series, raw: pd.Series) -> str | None:
    device = _num(row, "device_accounts_24h")
    paid_in = _num(row, "counterparty_accounts_24h")
    ring = _num(row, "ring_size_24h")
    fan_out = _num(row, "account_counterparties_24h")
    at_merchant = _num(row, "merchant_accounts_1h")
    parts = []
    if device >= 1 and _text(raw, "device_id"):
        parts.append(f"device shared with {_accounts(device)} in 24 h")
    if paid_in >= 1 and _text(raw, "counterparty_id"):
        parts.append(f"{_accounts(paid_in)} paid {_text(raw, 'counterparty_id')} in 24 h")
    direct = max(np.nan_to_num(device), np.nan_to_num(paid_in))
    if ring >= 2 and ring - 1 > direct:
        parts.append(f"one of {int(ring)} accounts sharing a device or counterparty in 24 h")
    if fan_out >= 3:
        parts.append(f"{int(fan_out)} different counterparties paid in 24 h")
    if at_merchant >= 2 and _text(raw, "merchant_id"):
        parts.append(f"{_accounts(at_merchant)} paid {_text(raw, 'merchant_id')} in the last hour")
    return "; ".join(parts) or None


def _rate_text(row: pd.Series, raw: pd.Series) -> str | None:
    merchant_rate = _num(row, "merchant_fraud_rate")
    category_rate = _num(row, "category_fraud_rate")
    merchant = _text(raw, "merchant_id")
    category = _text(raw, "merchant_category")
    if merchant and not np.isnan(merchant_rate) and not category_rate > merchant_rate:
        return f"merchant {merchant} has a {merchant_rate:.1%} fraud rate in labelled history"
    if category and not np.isnan(category_rate):
        return f"category {category} has a {category_rate:.1%} fraud rate in labelled history"
    # No rate table (labels too recent for one): the raw-column booster learnt the risk of the
    # merchant or category code itself from the training labels.
    if merchant and not np.isnan(_num(row, "raw_merchant")):
        return f"payments to merchant {merchant} were often fraud in the training labels"
    if category and not np.isnan(_num(row, "raw_category")):
        return f"payments in category {category} were often fraud in the training labels"
    return None


_CHANNEL_WORDS = {
    "ecom": "an online (card-not-present) payment",
    "atm": "a cash withdrawal at an ATM",
}


def _channel_text(row: pd.Series, raw: pd.Series) -> str | None:
    channel = _text(raw, "channel").lower()
    return _CHANNEL_WORDS.get(channel)


@dataclass(frozen=True)
class Reason:
    """One reason code: its label, the features it occludes, the raw inputs it needs, its words.

    ``requires``: raw columns of which at least one must be present (non-blank) on a transaction
    for this reason to be offered for it; ``()`` means the features alone decide.
    """

    code: str
    label: str
    features: tuple[str, ...]
    text: Text
    requires: tuple[str, ...] = ()


REASONS = (
    Reason(
        "amount_unusual",
        "Unusual amount",
        (
            "amount_log",
            "amount_ratio_mean_30d",
            "amount_zscore_30d",
            "amount_ratio_median_30d",
            "amount_percentile_30d",
            "amount_ratio_max_30d",
            *REFERENCE_AMOUNT_FEATURES,
            "raw_amount",
        ),
        _amount_text,
    ),
    Reason(
        "velocity",
        "Burst of transactions",
        (
            "count_10m",
            "count_1h",
            "count_24h",
            "count_7d",
            "amount_sum_10m_log",
            "amount_sum_1h_log",
            "amount_sum_24h_log",
            "amount_sum_7d_log",
            "count_24h_vs_usual",
            "seconds_since_prev_log",
        ),
        _velocity_text,
    ),
    Reason(
        "unusual_time",
        "Unusual time of day",
        (
            "hour_sin",
            "hour_cos",
            "hour_share_30d",
            "hour_distance_from_usual",
            "weekday_share_30d",
            "raw_hour",
            "raw_weekday",
        ),
        _hour_text,
    ),
    Reason(
        "new_merchant",
        "Unfamiliar merchant",
        ("new_merchant_30d", "new_merchants_24h", "new_category_30d", "category_share_30d"),
        _merchant_text,
        ("merchant_id", "merchant_category"),
    ),
    Reason(
        "new_country",
        "New country",
        ("new_country_30d", "new_countries_24h", "raw_country"),
        _novelty_text("country", "countries", "country"),
        ("country",),
    ),
    Reason(
        "new_device",
        "New device",
        ("new_device_30d", "new_devices_24h"),
        _novelty_text("device", "devices", "device_id"),
        ("device_id",),
    ),
    Reason(
        "location",
        "Unusual location",
        (
            "distance_from_usual_km",
            "distance_from_prev_km",
            "speed_from_prev_kmh",
            "raw_latitude",
            "raw_longitude",
        ),
        _location_text,
        ("latitude",),
    ),
    Reason(
        "counterparty",
        "Busy or new counterparty",
        ("new_counterparty_30d", "counterparty_count_24h"),
        _counterparty_text,
        ("counterparty_id",),
    ),
    Reason(
        "peer_amount",
        "Unusual amount for the merchant",
        tuple(PEER_AMOUNT_FEATURES),
        _peer_amount_text,
        ("merchant_id", "merchant_category"),
    ),
    Reason(
        "linked_accounts",
        "Linked accounts",
        tuple(LINK_FEATURES),
        _links_text,
        ("device_id", "counterparty_id", "merchant_id"),
    ),
    Reason(
        "merchant_risk",
        "Merchant with a fraud history",
        ("merchant_fraud_rate", "category_fraud_rate", "raw_merchant", "raw_category"),
        _rate_text,
        ("merchant_id", "merchant_category"),
    ),
    Reason(
        "channel",
        "Risky channel",
        ("channel_ecom", "channel_atm", "raw_channel"),
        _channel_text,
        ("channel",),
    ),
)
METADATA_CODE = "metadata"
METADATA_LABEL = "Partner attributes"

#: The one label of every reason code (rules add ``rule:<name>`` codes, see :func:`reason_label`).
REASON_LABELS: dict[str, str] = {r.code: r.label for r in REASONS} | {METADATA_CODE: METADATA_LABEL}


def reason_label(code: str) -> str:
    """The plain-words label of a reason code, as every surface shows it."""
    code = code or ""
    if code.startswith(RULE_PREFIX):
        return f"Rule “{code[len(RULE_PREFIX) :]}”"
    return REASON_LABELS.get(code, code.replace("_", " ").capitalize())


def _metadata_reason(names: tuple[str, ...]) -> Reason:
    def text(row: pd.Series, raw: pd.Series) -> str | None:
        parts = [
            f"{n[len(METADATA_PREFIX) :]} = {_num(row, n):g}"
            for n in names
            if not np.isnan(_num(row, n))
        ]
        return ", ".join(parts) or None

    return Reason(METADATA_CODE, METADATA_LABEL, names, text)


def _reasons_for(feature_names: list[str]) -> list[Reason]:
    present = set(feature_names)
    reasons = []
    for reason in REASONS:
        used = tuple(f for f in reason.features if f in present)
        if used:
            reasons.append(Reason(reason.code, reason.label, used, reason.text, reason.requires))
    metadata = tuple(f for f in feature_names if f.startswith(METADATA_PREFIX))
    if metadata:
        reasons.append(_metadata_reason(metadata))
    return reasons


def _present(raw: pd.DataFrame, column: str) -> np.ndarray:
    """Rows where the raw input ``column`` has a value (text: not blank)."""
    if column not in raw:
        return np.zeros(len(raw), dtype=bool)
    values = raw[column]
    filled = values.notna().to_numpy()
    if values.dtype == object:
        blank = [
            not f or str(v).strip() == "" for v, f in zip(values.to_numpy(), filled, strict=True)
        ]
        filled &= ~np.array(blank, dtype=bool)
    return filled


def _has_inputs(
    reason: Reason, known: np.ndarray, columns: dict[str, int], present: dict[str, np.ndarray]
) -> np.ndarray:
    """Rows where the reason has evidence to judge: some feature known (``known``: which
    features are not NaN, column per feature) and a raw input present (``present``, by raw
    column)."""
    has = known[:, [columns[name] for name in reason.features]].any(axis=1)
    if not reason.requires:
        return has
    return has & np.logical_or.reduce([present[column] for column in reason.requires])


def describe(reason: Reason, row: pd.Series, raw: pd.Series) -> str | None:
    """The reason's evidence for one transaction in plain words, or ``None`` when it has none."""
    try:
        text = reason.text(row, raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return text.strip() if text and text.strip() else None


def _records(frame: pd.DataFrame, positions: np.ndarray) -> list[dict]:
    """``frame.iloc[positions].to_dict("records")`` (the same Python values: ``tolist`` boxes
    as ``to_dict`` does), column by column: ``to_dict`` costs about a millisecond even for one
    row, twice per ``POST /score``."""
    if not len(positions):
        return []
    part = frame.iloc[positions]
    columns = {name: part[name].tolist() for name in part.columns}
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


def explain(
    artifact: dict, features: pd.DataFrame, raw: pd.DataFrame, base: np.ndarray
) -> list[list[dict]]:
    """Up to ``MAX_REASONS`` reasons per row: ``{"code", "detail", "weight"}`` (weight 0-100)."""
    if features.empty:
        return []
    neutral = artifact["neutral"]
    reasons = _reasons_for(list(artifact["feature_names"]))
    base = np.asarray(base, dtype=float)
    drops = np.zeros((len(features), len(reasons)))  # log-odds
    points = np.zeros((len(features), len(reasons)))  # probability
    candidates = np.flatnonzero(base >= MIN_RISK)
    if len(candidates):
        subset = features.iloc[candidates]
        raw_subset = raw.iloc[candidates]
        base_odds = _log_odds(base[candidates])
        names = list(artifact["feature_names"])
        values = subset[names].to_numpy(dtype=float)
        # Every reason's occluded copy of the rows, stacked: one predict call for all of them
        # (a call costs far more than a row: ~100 trees walked per call, whatever the rows).
        blocks, eligible_by_reason = [], {}
        known = ~np.isnan(values)
        columns = {name: k for k, name in enumerate(names)}
        required = {column for reason in reasons for column in reason.requires}
        present = {column: _present(raw_subset, column) for column in required}
        for j, reason in enumerate(reasons):
            eligible = _has_inputs(reason, known, columns, present)
            if not eligible.any():
                continue
            occluded = values.copy()
            for name in reason.features:
                occluded[:, names.index(name)] = neutral.get(name, 0.0)
            blocks.append(occluded)
            eligible_by_reason[j] = eligible
        if blocks:
            stacked = pd.DataFrame(np.concatenate(blocks), columns=names)
            without_all = predict_proba(artifact, stacked).reshape(len(blocks), len(candidates))
            for without, (j, eligible) in zip(without_all, eligible_by_reason.items(), strict=True):
                drops[candidates, j] = np.where(eligible, base_odds - _log_odds(without), 0.0)
                points[candidates, j] = np.where(eligible, base[candidates] - without, 0.0)
    results: list[list[dict]] = [[] for _ in range(len(features))]
    worded = np.flatnonzero(drops.max(axis=1) >= MIN_LOG_ODDS)
    # Plain dicts, built once for the rows that get words: a pandas row per transaction cost
    # about 60 µs each (a third of explaining a batch of 1,000).
    rows = _records(features, worded)
    raw_rows = _records(raw, worded)
    for i, row, raw_row in zip(worded, rows, raw_rows, strict=True):
        chosen: list[dict] = []
        for j in np.argsort(-drops[i]):
            if drops[i, j] < MIN_LOG_ODDS or len(chosen) == MAX_REASONS:
                break
            detail = describe(reasons[j], row, raw_row)
            if detail is None:
                continue
            chosen.append(
                {
                    "code": reasons[j].code,
                    "detail": detail,
                    "weight": round(max(float(points[i, j]), 0.0) * 100, 1),
                }
            )
        results[i] = chosen
    return results
