"""Reason codes: which behaviours pushed each transaction's score up, in plain words.

Attribution by occlusion: for each reason (a group of related features) the batch is scored again
with that group set to its neutral value (median of legitimate training rows); the drop in
probability is that reason's weight. One extra vectorised prediction per reason and batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .ml import predict_proba

MAX_REASONS = 3
MIN_WEIGHT = 0.01  # one probability point


def _fmt_amount(x: float) -> str:
    return f"{x:,.2f}"


def _ratio_text(row: pd.Series, raw: pd.Series) -> str:
    ratio = row["amount_ratio_mean_30d"]
    if np.isnan(ratio):
        return f"amount {_fmt_amount(float(raw['amount']))} with no recent history to compare"
    if ratio >= 1:
        return f"amount {ratio:,.1f}× this account's 30-day average"
    return f"amount only {ratio:.2f}× this account's 30-day average (possible card testing)"


def _velocity_text(row: pd.Series, raw: pd.Series) -> str:
    c1, c24 = int(row["count_1h"]), int(row["count_24h"])
    gap = row["seconds_since_prev_log"]
    text = f"{c1} earlier transactions in the last hour, {c24} in 24 h"
    if not np.isnan(gap):
        seconds = float(np.expm1(gap))
        if seconds < 600:
            text += f"; {seconds:.0f} s after the previous one"
    return text


def _hour_text(row: pd.Series, raw: pd.Series) -> str:
    share = row["hour_share_30d"]
    at = pd.Timestamp(raw["occurred_at"]).tz_convert("UTC").strftime("%H:%M UTC")
    if np.isnan(share):
        return f"at {at}"
    return f"at {at}, a time of day with {share:.0%} of this account's recent activity"


def _new_text(label: str, column: str) -> Callable[[pd.Series, pd.Series], str]:
    def text(row: pd.Series, raw: pd.Series) -> str:
        value = raw.get(column) or "?"
        return f"first {label} {value} for this account in 30 days"

    return text


def _distance_text(row: pd.Series, raw: pd.Series) -> str:
    return f"{row['distance_from_usual_km']:,.0f} km from this account's usual location"


def _counterparty_text(row: pd.Series, raw: pd.Series) -> str:
    text = f"payment to counterparty {raw.get('counterparty_id') or '?'}"
    if row["new_counterparty_30d"] == 1:
        text += ", new for this account"
    count = row["counterparty_count_24h"]
    if not np.isnan(count):
        text += f"; {int(count)} earlier payments to it from any account in 24 h"
    return text


@dataclass(frozen=True)
class Reason:
    code: str
    features: tuple[str, ...]
    text: Callable[[pd.Series, pd.Series], str]


REASONS = (
    Reason(
        "amount_unusual",
        ("amount_log", "amount_ratio_mean_30d", "amount_zscore_30d", "amount_sum_24h_log"),
        _ratio_text,
    ),
    Reason("velocity", ("count_1h", "count_24h", "seconds_since_prev_log"), _velocity_text),
    Reason("unusual_hour", ("hour_sin", "hour_cos", "hour_share_30d"), _hour_text),
    Reason(
        "new_merchant",
        ("new_merchant_30d", "new_category_30d"),
        _new_text("merchant", "merchant_id"),
    ),
    Reason("new_country", ("new_country_30d",), _new_text("country", "country")),
    Reason("new_device", ("new_device_30d",), _new_text("device", "device_id")),
    Reason("far_from_usual_location", ("distance_from_usual_km",), _distance_text),
    Reason(
        "counterparty",
        ("new_counterparty_30d", "counterparty_count_24h"),
        _counterparty_text,
    ),
    Reason(
        "channel",
        ("channel_ecom", "channel_atm"),
        lambda row, raw: f"channel {raw.get('channel') or '?'}",
    ),
)


def explain(
    artifact: dict, features: pd.DataFrame, raw: pd.DataFrame, base: np.ndarray
) -> list[list[dict]]:
    """Up to ``MAX_REASONS`` reasons per row: ``{"code", "detail", "weight"}`` (weight 0-100)."""
    if features.empty:
        return []
    neutral = artifact["neutral"]
    weights = np.zeros((len(features), len(REASONS)))
    for j, reason in enumerate(REASONS):
        occluded = features.copy()
        for name in reason.features:
            occluded[name] = neutral.get(name, 0.0)
        weights[:, j] = base - predict_proba(artifact, occluded)
    results: list[list[dict]] = []
    for i in range(len(features)):
        if weights[i].max() < MIN_WEIGHT:
            results.append([])
            continue
        ranked = np.argsort(-weights[i])[:MAX_REASONS]
        row, raw_row = features.iloc[i], raw.iloc[i]
        reasons = [
            {
                "code": REASONS[j].code,
                "detail": REASONS[j].text(row, raw_row),
                "weight": round(float(weights[i, j]) * 100, 1),
            }
            for j in ranked
            if weights[i, j] >= MIN_WEIGHT
        ]
        results.append(reasons)
    return results
