"""Reason codes: which behaviours pushed each transaction's score up, in plain words.

Attribution by occlusion: for each reason (a group of related features) the batch is scored again
with that group set to its neutral value (median of legitimate training rows). Reasons are ranked
by the drop in log-odds, which still separates them when the probability is saturated (a
transaction that is suspicious for three independent reasons stays at 0.99 when any one of them is
removed); the reported weight is the drop in probability points. One extra vectorised prediction
per reason and batch; the words are written only for the rows and reasons that carry weight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import METADATA_PREFIX
from .ml import predict_proba

MAX_REASONS = 3
MIN_RISK = 0.01  # rows below one probability point get no reasons
MIN_LOG_ODDS = 0.05  # smallest log-odds drop that counts as a reason


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _num(row: pd.Series, name: str) -> float:
    value = row.get(name, np.nan)
    return float(value) if value is not None else float("nan")


def _times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:,.1f}×"


def _amount_text(row: pd.Series, raw: pd.Series) -> str:
    amount = float(raw["amount"])
    median = amount / _num(row, "amount_ratio_median_30d")
    ratio = _num(row, "amount_ratio_median_30d")
    if np.isnan(ratio):
        ratio = _num(row, "amount_ratio_mean_30d")
        median = amount / ratio
    if np.isnan(ratio):
        return f"amount {amount:,.2f} with no recent history to compare"
    if ratio >= 1:
        text = f"amount {_times(ratio)} this account's median ({amount:,.2f} vs {median:,.2f})"
        if _num(row, "amount_ratio_max_30d") > 1:
            text += ", its largest in 30 days"
        return text
    return (
        f"amount {amount:,.2f}, only {ratio:.2f}× this account's median "
        "(small amounts can be card testing)"
    )


def _velocity_text(row: pd.Series, raw: pd.Series) -> str:
    c10, c1h, c24 = (int(_num(row, n)) for n in ("count_10m", "count_1h", "count_24h"))
    if c10:
        text = f"{_ordinal(c10 + 1)} transaction in 10 min"
    elif c1h:
        text = f"{_ordinal(c1h + 1)} transaction in an hour"
    else:
        text = f"{_ordinal(c24 + 1)} transaction in 24 h"
    history = _num(row, "history_count_30d")
    if c24 and not np.isnan(history) and history:
        text += f"; usually {history / 30:,.1f} a day"
    gap = _num(row, "seconds_since_prev_log")
    if not np.isnan(gap) and np.expm1(gap) < 600:
        text += f"; {np.expm1(gap):.0f} s after the previous one"
    return text


def _hour_text(row: pd.Series, raw: pd.Series) -> str:
    at = pd.Timestamp(raw["occurred_at"]).tz_convert("UTC").strftime("%H:%M UTC")
    distance = _num(row, "hour_distance_from_usual")
    share = _num(row, "hour_share_30d")
    if np.isnan(distance):
        return f"at {at}"
    text = f"at {at}, {distance:.0f} h from this account's usual time of day"
    if not np.isnan(share):
        text += f" ({share:.0%} of its recent activity is in this 3-hour slot)"
    return text


def _novelty_text(label: str, plural: str, column: str) -> Callable[[pd.Series, pd.Series], str]:
    def text(row: pd.Series, raw: pd.Series) -> str:
        value = raw.get(column) or "?"
        recent = _num(row, f"new_{plural}_24h")
        if _num(row, f"new_{label}_30d") == 1:
            text = f"first {label} {value} for this account in 30 days"
            if not np.isnan(recent) and recent >= 2:
                text = f"{_ordinal(int(recent))} new {label} in 24 h ({value})"
            return text
        if not np.isnan(recent) and recent >= 2:
            return f"{int(recent)} new {plural} in 24 h"
        return f"{label} {value}"

    return text


def _merchant_text(row: pd.Series, raw: pd.Series) -> str:
    merchant = raw.get("merchant_id") or "?"
    recent = _num(row, "new_merchants_24h")
    if _num(row, "new_merchant_30d") == 1:
        if not np.isnan(recent) and recent >= 2:
            return f"{_ordinal(int(recent))} new merchant in 24 h ({merchant})"
        return f"first time at merchant {merchant} in 30 days"
    share = _num(row, "category_share_30d")
    category = raw.get("merchant_category") or "?"
    if _num(row, "new_category_30d") == 1:
        return f"first {category} purchase in 30 days"
    if not np.isnan(share):
        return f"category {category}: {share:.0%} of this account's recent transactions"
    return f"merchant {merchant}"


def _location_text(row: pd.Series, raw: pd.Series) -> str:
    step = _num(row, "distance_from_prev_km")
    speed = _num(row, "speed_from_prev_kmh")
    usual = _num(row, "distance_from_usual_km")
    if not np.isnan(speed) and speed > 900:
        return f"{step:,.0f} km from the previous transaction, an implied {speed:,.0f} km/h"
    if not np.isnan(usual):
        return f"{usual:,.0f} km from this account's usual location"
    return "location"


def _counterparty_text(row: pd.Series, raw: pd.Series) -> str:
    text = f"payment to counterparty {raw.get('counterparty_id') or '?'}"
    if _num(row, "new_counterparty_30d") == 1:
        text += ", new for this account"
    count = _num(row, "counterparty_count_24h")
    if not np.isnan(count) and count:
        text += f"; {int(count)} earlier payments to it from any account in 24 h"
    return text


def _rate_text(row: pd.Series, raw: pd.Series) -> str:
    merchant_rate = _num(row, "merchant_fraud_rate")
    category_rate = _num(row, "category_fraud_rate")
    if not np.isnan(merchant_rate) and merchant_rate >= category_rate:
        return (
            f"merchant {raw.get('merchant_id') or '?'} has a {merchant_rate:.1%} fraud rate in "
            "labelled history"
        )
    if not np.isnan(category_rate):
        return (
            f"category {raw.get('merchant_category') or '?'} has a {category_rate:.1%} fraud rate "
            "in labelled history"
        )
    return "merchant risk"


@dataclass(frozen=True)
class Reason:
    code: str
    features: tuple[str, ...]
    text: Callable[[pd.Series, pd.Series], str]


REASONS = (
    Reason(
        "amount_unusual",
        (
            "amount_log",
            "amount_ratio_mean_30d",
            "amount_zscore_30d",
            "amount_ratio_median_30d",
            "amount_percentile_30d",
            "amount_ratio_max_30d",
        ),
        _amount_text,
    ),
    Reason(
        "velocity",
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
        (
            "hour_sin",
            "hour_cos",
            "hour_share_30d",
            "hour_distance_from_usual",
            "weekday_share_30d",
        ),
        _hour_text,
    ),
    Reason(
        "new_merchant",
        ("new_merchant_30d", "new_merchants_24h", "new_category_30d", "category_share_30d"),
        _merchant_text,
    ),
    Reason(
        "new_country",
        ("new_country_30d", "new_countries_24h"),
        _novelty_text("country", "countries", "country"),
    ),
    Reason(
        "new_device",
        ("new_device_30d", "new_devices_24h"),
        _novelty_text("device", "devices", "device_id"),
    ),
    Reason(
        "location",
        ("distance_from_usual_km", "distance_from_prev_km", "speed_from_prev_kmh"),
        _location_text,
    ),
    Reason(
        "counterparty",
        ("new_counterparty_30d", "counterparty_count_24h"),
        _counterparty_text,
    ),
    Reason("merchant_risk", ("merchant_fraud_rate", "category_fraud_rate"), _rate_text),
    Reason(
        "channel",
        ("channel_ecom", "channel_atm"),
        lambda row, raw: f"channel {raw.get('channel') or '?'}",
    ),
)


def _metadata_reason(names: tuple[str, ...]) -> Reason:
    def text(row: pd.Series, raw: pd.Series) -> str:
        parts = [f"{n[len(METADATA_PREFIX) :]} = {_num(row, n):g}" for n in names]
        return "partner attributes: " + ", ".join(parts)

    return Reason("metadata", names, text)


def _reasons_for(feature_names: list[str]) -> list[Reason]:
    present = set(feature_names)
    reasons = []
    for reason in REASONS:
        used = tuple(f for f in reason.features if f in present)
        if used:
            reasons.append(Reason(reason.code, used, reason.text))
    metadata = tuple(f for f in feature_names if f.startswith(METADATA_PREFIX))
    if metadata:
        reasons.append(_metadata_reason(metadata))
    return reasons


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
        base_odds = _log_odds(base[candidates])
        for j, reason in enumerate(reasons):
            occluded = subset.copy()
            for name in reason.features:
                occluded[name] = neutral.get(name, 0.0)
            without = predict_proba(artifact, occluded)
            drops[candidates, j] = base_odds - _log_odds(without)
            points[candidates, j] = base[candidates] - without
    results: list[list[dict]] = []
    for i in range(len(features)):
        if drops[i].max() < MIN_LOG_ODDS:
            results.append([])
            continue
        ranked = np.argsort(-drops[i])[:MAX_REASONS]
        row, raw_row = features.iloc[i], raw.iloc[i]
        results.append(
            [
                {
                    "code": reasons[j].code,
                    "detail": reasons[j].text(row, raw_row),
                    "weight": round(max(float(points[i, j]), 0.0) * 100, 1),
                }
                for j in ranked
                if drops[i, j] >= MIN_LOG_ODDS
            ]
        )
    return results
