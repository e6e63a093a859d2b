"""Back-testing: a fresh candidate against baselines on a time-ordered hold-out.

The labelled transactions are split by time: the candidate is trained (same pipeline as
``train_model``: :func:`scoring.engine.ml.train`) on everything up to the cut, and scored on the
labelled rows after it, with all earlier transactions as history, exactly as the worker would.
Baselines on the same split:

* ``raw_gbm``: the same gradient-boosting settings on raw transaction columns only (amount, hour
  of day, weekday, merchant and category, channel, country, latitude/longitude). No customer
  identifiers (account, device, counterparty, IP, metadata) go in: they would let the model
  memorise who was defrauded in the training window instead of learning what fraud looks like.
* ``isolation_forest``: an IsolationForest on the candidate's behavioural features, no labels
  (the novelty part of the ensemble on its own).
* ``rank_by_amount``: the amount itself as the score.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from .ensemble import booster
from .features import compute_features, usable_rows
from .levels import ANCHORS, LEVELS, risk_levels
from .ml import artifact_levels, precision_at_budget, predict_proba, ranking_metrics, train

RAW_COLUMNS = [
    "amount",
    "hour",
    "weekday",
    "merchant_code",
    "category_code",
    "channel_code",
    "country_code",
    "latitude",
    "longitude",
]
BUDGETS = ((0.01, "1pct"), (0.05, "5pct"))


def raw_columns(frame: pd.DataFrame, vocabulary: dict[str, dict[str, int]]) -> pd.DataFrame:
    """The raw-column baseline's inputs; text columns as codes learnt from the training part
    (unseen values → NaN)."""
    occurred = pd.to_datetime(frame["occurred_at"], utc=True)
    out = pd.DataFrame(index=frame.index)
    out["amount"] = pd.to_numeric(frame["amount"], errors="coerce").astype(float)
    out["hour"] = occurred.dt.hour + occurred.dt.minute / 60
    out["weekday"] = occurred.dt.weekday
    for column, name in (
        ("merchant_id", "merchant_code"),
        ("merchant_category", "category_code"),
        ("channel", "channel_code"),
        ("country", "country_code"),
    ):
        values = frame[column].fillna("").astype(str) if column in frame else ""
        out[name] = pd.Series(values, index=frame.index).map(vocabulary[column]).astype(float)
    for column in ("latitude", "longitude"):
        out[column] = (
            pd.to_numeric(frame[column], errors="coerce").astype(float)
            if column in frame
            else np.nan
        )
    return out[RAW_COLUMNS]


def _vocabulary(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    vocabulary = {}
    for column in ("merchant_id", "merchant_category", "channel", "country"):
        values = frame[column].fillna("").astype(str) if column in frame else pd.Series([""])
        vocabulary[column] = {v: i for i, v in enumerate(sorted(values.unique()))}
    return vocabulary


def _per_pattern(
    y: np.ndarray, scores: np.ndarray, patterns: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per fraud pattern: its rows against all legitimate rows (AP), and its recall when alerting
    on the top 1 % / 5 % of all hold-out rows."""
    out: dict[str, dict[str, Any]] = {}
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    for pattern in sorted({p for p in patterns[y == 1] if p}):
        mine = (patterns == pattern) & (y == 1)
        subset = mine | (y == 0)
        metrics = ranking_metrics(mine[subset].astype(int), scores[subset])
        row: dict[str, Any] = {
            "positives": int(mine.sum()),
            "average_precision": metrics["average_precision"],
        }
        for budget, label in BUDGETS:
            top = order[: max(1, int(np.ceil(n * budget)))]
            row[f"recall_at_{label}"] = float(mine[top].sum() / mine.sum())
        out[pattern] = row
    return out


def level_metrics(
    y: np.ndarray, levels: np.ndarray, *, expected: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Per risk level on the hold-out: rows, share of all traffic, fraud, precision and recall
    within the level, and the same at that level or above (what alerting on it catches).
    ``expected``: the calibration's expected precision per level, reported next to it."""
    y = np.asarray(y, dtype=int)
    n, positives = len(y), int(y.sum())
    order = ["low", *LEVELS]
    out: dict[str, dict[str, Any]] = {}
    for i, level in enumerate(order):
        band = levels == level
        above = np.isin(levels, order[i:])
        fraud, fraud_above = int(y[band].sum()), int(y[above].sum())
        row: dict[str, Any] = {
            "rows": int(band.sum()),
            "share": float(band.mean()) if n else 0.0,
            "normal_share_at_or_above": float(above[y == 0].mean()) if (y == 0).any() else None,
            "fraud": fraud,
            "precision": fraud / int(band.sum()) if band.any() else None,
            "recall": fraud / positives if positives else None,
            "precision_at_or_above": fraud_above / int(above.sum()) if above.any() else None,
            "recall_at_or_above": fraud_above / positives if positives else None,
        }
        if expected is not None and level in expected:
            row["expected_precision"] = expected[level]
        out[level] = row
    return out


def _candidate_levels(artifact: dict[str, Any], y: np.ndarray, scores: np.ndarray):
    """The candidate's levels on the hold-out: from its alert-budget calibration, or (without
    one) the fixed cut-offs of probability × 100 at the 40/70/90 anchors."""
    calibration = artifact_levels(artifact)
    if calibration is not None:
        levels = risk_levels(calibration, scores)
        return "alert_budget", level_metrics(y, levels, expected=calibration.expected_precision)
    levels = np.full(len(scores), "low", dtype=object)
    for level in LEVELS:
        levels[np.asarray(scores) * 100 >= ANCHORS[level]] = level
    return "fixed_cutoffs", level_metrics(y, levels)


def _report(y, scores, patterns) -> dict[str, Any]:
    report: dict[str, Any] = ranking_metrics(y, scores)
    if patterns is not None:
        per_pattern = _per_pattern(y, scores, patterns)
        if per_pattern:
            report["per_pattern"] = per_pattern
    return report


def evaluate(
    frame: pd.DataFrame,
    *,
    holdout: float = 0.3,
    seed: int = 0,
    budgets: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Train on the earliest ``1 - holdout`` of labelled rows by time, score the rest.

    Returns ``{"candidate", "raw_gbm", "isolation_forest", "rank_by_amount", "positives", "rows",
    ...}``; each model entry has ``average_precision``, ``roc_auc``, ``precision_at_1pct``,
    ``recall_at_1pct``, ``precision_at_5pct``, ``recall_at_5pct`` (and ``per_pattern`` when the
    data names fraud patterns). The candidate's entry also has ``levels`` (per level: rows,
    share of traffic, precision and recall; see :func:`level_metrics`) and ``levels_from``
    (``alert_budget``: calibrated with ``budgets`` at training, as ``train_model`` does;
    ``fixed_cutoffs`` when the candidate has no calibration).
    """
    if not 0 < holdout < 1:
        raise ValueError("--holdout must be between 0 and 1 (e.g. 0.3).")
    started = time.monotonic()
    # Rows features cannot use are left out and reported (``skipped`` in the result).
    frame, skipped = usable_rows(frame)
    if "id" not in frame:
        frame["id"] = np.arange(1, len(frame) + 1)
    frame = frame.sort_values(["occurred_at", "id"], kind="stable")
    labels = pd.to_numeric(frame.get("is_fraud"), errors="coerce")
    labelled = frame[labels.notna().to_numpy()] if labels is not None else frame.iloc[:0]
    if labelled.empty:
        raise ValueError("No labelled transactions to evaluate on.")
    cut = int(len(labelled) * (1 - holdout))
    if cut == 0 or cut == len(labelled):
        raise ValueError(f"{len(labelled)} labelled transactions are too few to split.")
    cut_time = labelled["occurred_at"].iloc[cut]
    train_frame = frame[frame["occurred_at"] < cut_time]
    test = labelled[labelled["occurred_at"] >= cut_time]
    y_train = pd.to_numeric(train_frame["is_fraud"], errors="coerce")
    y_test = test["is_fraud"].astype(float).astype(int).to_numpy()
    if y_test.sum() == 0 or y_test.sum() == len(y_test):
        raise ValueError(
            "The hold-out has only one class; evaluate needs fraud and legitimate labels after "
            f"{cut_time.isoformat()}."
        )
    if np.nansum(y_train) == 0:
        raise ValueError(f"No fraud labels before {cut_time.isoformat()} to train on.")

    candidate = train(train_frame, seed=seed, budgets=budgets)
    artifact = candidate.artifact
    history = frame[frame["occurred_at"] <= test["occurred_at"].max()]
    features = compute_features(history.drop(columns=["is_fraud"]), artifact=artifact)
    test_features = features.loc[test.index]
    candidate_scores = predict_proba(artifact, test_features)
    novelty = artifact["estimator"].novelty(test_features.to_numpy(dtype=float))

    vocabulary = _vocabulary(train_frame)
    train_labelled = train_frame[y_train.notna().to_numpy()]
    raw_model = booster(seed).fit(
        raw_columns(train_labelled, vocabulary).to_numpy(dtype=float),
        train_labelled["is_fraud"].astype(float).astype(int).to_numpy(),
    )
    raw_scores = raw_model.predict_proba(raw_columns(test, vocabulary).to_numpy(dtype=float))[:, 1]
    amount_scores = pd.to_numeric(test["amount"], errors="coerce").to_numpy(dtype=float)

    patterns = (
        test["fraud_pattern"].fillna("").astype(str).to_numpy() if "fraud_pattern" in test else None
    )
    candidate_report = _report(y_test, candidate_scores, patterns)
    levels_from, per_level = _candidate_levels(artifact, y_test, candidate_scores)
    candidate_report.update(levels_from=levels_from, levels=per_level)
    return {
        "candidate": candidate_report,
        "raw_gbm": _report(y_test, raw_scores, patterns),
        "isolation_forest": _report(y_test, novelty, patterns),
        "rank_by_amount": _report(y_test, amount_scores, patterns),
        "positives": int(y_test.sum()),
        "rows": len(y_test),
        "holdout": holdout,
        "train_rows": len(train_frame),
        "train_positives": int(np.nansum(y_train)),
        "split_at": cut_time.isoformat(),
        "candidate_mode": candidate.summary["mode"],
        "candidate_features": artifact["feature_names"],
        "raw_columns": RAW_COLUMNS,
        "skipped": skipped,
        "seconds": round(time.monotonic() - started, 1),
    }


__all__ = ["RAW_COLUMNS", "evaluate", "precision_at_budget", "raw_columns"]
