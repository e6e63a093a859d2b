"""Back-testing: the selected model and every candidate against baselines on a time-ordered
hold-out.

The labelled transactions are split by time: training (same pipeline as ``train_model``:
:func:`scoring.engine.ml.train`, which fits the candidates and selects one on a validation slice of
the
training part) sees everything up to the cut; the labelled rows after it are scored with all
earlier transactions as history, exactly as the worker would. The hold-out plays no part in the
selection. Reported on the same split:

* ``candidate``: the selected model (``selected`` names it), with its risk levels;
* ``candidates``: every candidate (``ensemble``, ``raw_booster``, ``blend``), and
  ``validation``: what each one scored on the validation slice when it was selected;
* ``raw_gbm``: an independent gradient boosting (same settings) on the raw columns
  (:mod:`scoring.engine.raw_features`: amount, hour, weekday, coordinates,
  merchant/category/channel/
  country codes) and every numeric metadata key, no selection; columns empty in the training
  part are left out (a data set without coordinates has none). No account, device,
  counterparty or IP identifiers go in;
* ``isolation_forest``: a plain IsolationForest on the same columns, no labels;
* ``unsupervised``: the product's novelty path trained with the labels hidden (what a bank
  without labels gets), to compare with the plain IsolationForest;
* ``rank_by_amount``: the amount itself as the score;
* ``features``: the selected model's inputs with their permutation importance on the hold-out.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from .ensemble import Blend, booster
from .features import compute_features, usable_rows
from .levels import ANCHORS, DEFAULT_BUDGETS, LEVELS, risk_levels
from .ml import (
    artifact_levels,
    budget_metrics,
    precision_at_budget,
    predict_proba,
    ranking_metrics,
    train,
)
from .raw_features import raw_features, raw_spec

# Permutation importance is measured on at most this many hold-out rows (all frauds kept).
IMPORTANCE_ROWS = 4000
BUDGETS = ((0.01, "1pct"), (0.05, "5pct"))


def _numeric_metadata(frame: pd.DataFrame) -> pd.DataFrame:
    """Every metadata key as a number column (non-numbers missing), in name order."""
    if "metadata" not in frame:
        return pd.DataFrame(index=frame.index)
    records = [m if isinstance(m, dict) else {} for m in frame["metadata"].tolist()]
    meta = pd.DataFrame.from_records(records, index=frame.index)
    out = pd.DataFrame(index=frame.index)
    for key in sorted(meta.columns, key=str):
        raw = meta[key].map(lambda v: float(v) if isinstance(v, bool) else v)
        out[f"meta:{key}"] = pd.to_numeric(raw, errors="coerce").astype(float)
    return out


def baseline_spec(train_frame: pd.DataFrame) -> dict[str, Any]:
    """The raw baselines' columns, from the training part: raw columns with a value there and
    the metadata keys that are numbers on at least 95 % of the rows carrying them."""
    meta = _numeric_metadata(train_frame)
    present = meta.notna().sum()
    carried = (
        pd.DataFrame.from_records(
            [m if isinstance(m, dict) else {} for m in train_frame["metadata"].tolist()]
        )
        .notna()
        .sum()
        if "metadata" in train_frame and len(meta.columns)
        else pd.Series(dtype=float)
    )
    keys = [c for c in meta.columns if present[c] > 0 and present[c] >= 0.95 * carried[c[5:]]]
    return {"raw": raw_spec(train_frame), "metadata": keys}


def baseline_inputs(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """The raw baselines' input columns of ``frame`` (see :func:`baseline_spec`)."""
    meta = _numeric_metadata(frame).reindex(columns=spec["metadata"])
    return pd.concat([raw_features(frame, spec["raw"]), meta], axis=1).astype(float)


def _raw_baselines(train_frame, test, *, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scores of the raw-column booster and the plain IsolationForest on ``test``, and their
    columns."""
    spec = baseline_spec(train_frame)
    X_train = baseline_inputs(train_frame, spec)
    y_train = pd.to_numeric(train_frame["is_fraud"], errors="coerce")
    known = y_train.notna().to_numpy()
    # A column empty in every labelled row stops the booster's binning.
    X_train = X_train.loc[:, X_train[known].notna().any()]
    columns = list(X_train.columns)
    X_test = baseline_inputs(test, spec)[columns].to_numpy(dtype=float)
    gbm = booster(seed).fit(X_train.to_numpy(dtype=float)[known], y_train[known].astype(int))
    fill = X_train.median().to_numpy(dtype=float)
    forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=1).fit(
        np.where(np.isnan(X_train.to_numpy(dtype=float)), fill, X_train.to_numpy(dtype=float))
    )
    novelty = -forest.score_samples(np.where(np.isnan(X_test), fill, X_test))
    return gbm.predict_proba(X_test)[:, 1], novelty, columns


def _input_columns(model: Any, n: int) -> list[int]:
    """Columns of the feature matrix a candidate reads."""
    if isinstance(model, Blend):
        return sorted(set().union(*(_input_columns(m, n) for m in model.members.values())))
    inputs = getattr(model, "inputs", None)
    return list(range(n)) if inputs is None else [int(i) for i in inputs]


def feature_importance(
    model: Any, X: np.ndarray, y: np.ndarray, names: list[str], *, seed: int = 0
) -> list[dict[str, Any]]:
    """Permutation importance of each input of ``model``: how much the average precision drops
    when the column is shuffled (on at most ``IMPORTANCE_ROWS`` rows, every fraud kept), most
    important first. Columns empty on these rows are listed with importance 0."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=int)
    rows = np.flatnonzero(y == 1)
    normal = np.flatnonzero(y == 0)
    room = max(IMPORTANCE_ROWS - len(rows), 0)
    if len(normal) > room:
        normal = np.sort(rng.choice(normal, room, replace=False))
    rows = np.sort(np.concatenate([rows, normal]))
    X, y = np.asarray(X, dtype=float)[rows], y[rows]
    base = ranking_metrics(y, model.predict_proba(X)[:, 1])["average_precision"] or 0.0
    out = []
    for j in _input_columns(model, X.shape[1]):
        drop = 0.0
        if not np.all(np.isnan(X[:, j])):
            shuffled = X.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            after = ranking_metrics(y, model.predict_proba(shuffled)[:, 1])["average_precision"]
            drop = base - (after or 0.0)
        out.append({"name": names[j], "importance": round(float(drop), 4)})
    return sorted(out, key=lambda row: -row["importance"])


def _unsupervised_scores(train_frame, history, test, *, seed: int) -> np.ndarray:
    """The novelty path trained with every label hidden, scoring ``test``."""
    hidden = train(train_frame.assign(is_fraud=np.nan), seed=seed).artifact
    features = compute_features(history.drop(columns=["is_fraud"]), artifact=hidden)
    return predict_proba(hidden, features.loc[test.index])


def per_pattern_metrics(
    y: np.ndarray,
    scores: np.ndarray,
    patterns: np.ndarray,
    *,
    budgets: dict[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per named fraud pattern: its rows against all normal rows (the other patterns left out).

    For each pattern: ``positives``, ``average_precision``, and the share of its rows among the
    alerts when the top 1 % / 5 % / the alert budget of all rows is alerted (``recall_at_1pct``,
    ``recall_at_5pct``, ``recall_at_budget``; the budget is ``budgets["medium"]``, default
    ``DEFAULT_BUDGETS``, as in :func:`scoring.engine.ml.budget_metrics`, and ``alert_budget`` says
    which). Fraud rows without a pattern name are not reported.
    """
    y = np.asarray(y, dtype=int)
    scores = np.asarray(scores, dtype=float)
    patterns = np.asarray(patterns, dtype=object)
    budget = float((budgets or DEFAULT_BUDGETS)["medium"])
    order = np.argsort(-scores, kind="stable")
    alerted = {}
    for share, label in (*BUDGETS, (budget, "budget")):
        top = np.zeros(len(scores), dtype=bool)
        top[order[: max(1, int(np.ceil(len(scores) * share)))]] = True
        alerted[f"recall_at_{label}"] = top
    out: dict[str, dict[str, Any]] = {}
    for pattern in sorted({str(p) for p in patterns[y == 1] if p}):
        mine = (patterns == pattern) & (y == 1)
        subset = mine | (y == 0)
        metrics = ranking_metrics(mine[subset].astype(int), scores[subset])
        row: dict[str, Any] = {
            "positives": int(mine.sum()),
            "average_precision": metrics["average_precision"],
        }
        row.update({key: float(top[mine].mean()) for key, top in alerted.items()})
        row["alert_budget"] = budget
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


def _report(y, scores, patterns, budgets=None) -> dict[str, Any]:
    report: dict[str, Any] = ranking_metrics(y, scores)
    if patterns is not None:
        per_pattern = per_pattern_metrics(y, scores, patterns, budgets=budgets)
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

    trained = train(train_frame, seed=seed, budgets=budgets)
    artifact = trained.artifact
    names = artifact["feature_names"]
    history = frame[frame["occurred_at"] <= test["occurred_at"].max()]
    features = compute_features(history.drop(columns=["is_fraud"]), artifact=artifact)
    X_test = features.loc[test.index].to_numpy(dtype=float)
    candidate_scores = predict_proba(artifact, features.loc[test.index])
    raw_scores, forest_scores, raw_used = _raw_baselines(train_frame, test, seed=seed)
    amount_scores = pd.to_numeric(test["amount"], errors="coerce").to_numpy(dtype=float)
    unsupervised = _unsupervised_scores(train_frame, history, test, seed=seed)

    patterns = (
        test["fraud_pattern"].fillna("").astype(str).to_numpy() if "fraud_pattern" in test else None
    )

    def report(scores: np.ndarray) -> dict[str, Any]:
        out = _report(y_test, scores, patterns, budgets)
        return {**out, **budget_metrics(y_test, scores, budgets)}

    candidate_report = report(candidate_scores)
    levels_from, per_level = _candidate_levels(artifact, y_test, candidate_scores)
    candidate_report.update(levels_from=levels_from, levels=per_level)
    selection = trained.summary["selection"]
    selected = selection["selected"]
    return {
        "candidate": candidate_report,
        "selected": selected,
        "candidates": {
            name: report(model.predict_proba(X_test)[:, 1])
            for name, model in trained.candidates.items()
        },
        "validation": {
            name: entry["validation"]
            for name, entry in selection["candidates"].items()
            if entry.get("validation")
        },
        "validation_slice": selection.get("validation"),
        "raw_gbm": report(raw_scores),
        "isolation_forest": report(forest_scores),
        "unsupervised": report(unsupervised),
        "rank_by_amount": report(amount_scores),
        "features": feature_importance(
            trained.candidates[selected], X_test, y_test, names, seed=seed
        ),
        "positives": int(y_test.sum()),
        "rows": len(y_test),
        "holdout": holdout,
        "train_rows": len(train_frame),
        "train_positives": int(np.nansum(y_train)),
        "split_at": cut_time.isoformat(),
        "candidate_mode": trained.summary["mode"],
        "candidate_features": names,
        "metadata_selection": trained.summary["metadata_selection"],
        "raw_columns": raw_used,
        "skipped": skipped,
        "seconds": round(time.monotonic() - started, 1),
    }


__all__ = [
    "baseline_inputs",
    "evaluate",
    "feature_importance",
    "per_pattern_metrics",
    "precision_at_budget",
]
