"""The scoring model: training and model selection, evaluation metrics, the saved artifact.

Training fits a small set of candidates on the same feature matrix (``scoring.engine.ensemble``):

* ``ensemble``: the behavioural ensemble (behavioural features, learned rates, metadata);
* ``raw_booster``: gradient boosting on the raw columns (``scoring.engine.raw_features``) and
metadata;
* ``blend``: the two combined on the log-odds scale.

Each is fitted on the labelled rows before a time-ordered **validation slice** (the latest
``CALIBRATION_SHARE`` of the labelled training rows) and measured on it; the one with the best
average precision there is selected, and it alone is saved and serves. Nothing later than the
training data (an evaluation hold-out) is ever looked at. Without a validation slice (no labels,
or too few recent frauds) the ensemble serves, as before.

The artifact is a plain dict saved with joblib: the selected estimator, the feature names and
the feature spec (frozen merchant/category fraud-rate tables, chosen metadata keys, raw-column
vocabularies), and the "neutral" value of each feature (its median on legitimate training rows)
used to explain scores.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from .ensemble import fit_blend, fit_ensemble, fit_raw_booster
from .features import METADATA_PREFIX, compute_training_features, feature_spec, usable_rows
from .levels import (
    DEFAULT_BUDGETS,
    LevelCalibration,
    calibrate_levels,
    check_budgets,
    display_risk,
)
from .raw_features import RAW_PREFIX, category_counts, raw_spec

ALGORITHM = "Ensemble: gradient boosting + IsolationForest novelty, logistic calibration"
ALGORITHM_UNSUPERVISED = "IsolationForest novelty on behavioural features (no labels yet)"
ALGORITHMS = {
    "ensemble": ALGORITHM,
    "raw_booster": "Gradient boosting on raw columns and metadata, logistic calibration",
    "blend": "Blend of the ensemble and the raw-column booster (logistic on their log-odds)",
}
# In this order on a tie: the simpler explanation first.
CANDIDATES = ("ensemble", "raw_booster", "blend")
# A later (less simple) candidate is chosen only when it beats every earlier one by this much
# validation AP: on a validation slice of a few dozen frauds smaller gaps are noise.
SELECTION_MARGIN = 0.01


def precision_at_budget(
    y_true: np.ndarray, scores: np.ndarray, budget: float
) -> tuple[float, float]:
    """Precision and recall when alerting on the top ``budget`` share of rows by score."""
    n = len(scores)
    k = max(1, int(np.ceil(n * budget)))
    top = np.argsort(-scores, kind="stable")[:k]
    hits = float(np.sum(y_true[top]))
    positives = float(np.sum(y_true))
    return hits / k, (hits / positives if positives else 0.0)


def budget_metrics(
    y_true: np.ndarray, scores: np.ndarray, budgets: dict[str, float] | None
) -> dict[str, float]:
    """Precision and recall when the top ``budgets["medium"]`` share of rows is alerted (the
    alert budget of the lowest alerting level, ``scoring.engine.levels``)."""
    budget = float((budgets or DEFAULT_BUDGETS)["medium"])
    precision, recall = precision_at_budget(
        np.asarray(y_true, dtype=int), np.asarray(scores, dtype=float), budget
    )
    return {"alert_budget": budget, "precision_at_budget": precision, "recall_at_budget": recall}


def ranking_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    """Average precision, ROC-AUC, precision/recall at 1 % and 5 % alert budgets."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    both = len(np.unique(y_true)) == 2
    p1, r1 = precision_at_budget(y_true, scores, 0.01)
    p5, r5 = precision_at_budget(y_true, scores, 0.05)
    return {
        "average_precision": float(average_precision_score(y_true, scores)) if both else None,
        "roc_auc": float(roc_auc_score(y_true, scores)) if both else None,
        "precision_at_1pct": p1,
        "recall_at_1pct": r1,
        "precision_at_5pct": p5,
        "recall_at_5pct": r5,
    }


@dataclass
class TrainedModel:
    """Result of :func:`train`: the artifact to save plus what the registry records."""

    artifact: dict[str, Any]
    metrics: dict[str, Any]
    summary: dict[str, Any]
    # Every fitted candidate by name (the selected one is ``artifact["estimator"]``); not saved.
    candidates: dict[str, Any] = field(default_factory=dict)


def train(
    frame: pd.DataFrame, *, seed: int = 0, budgets: dict[str, float] | None = None
) -> TrainedModel:
    """Train the ensemble on a history of transactions (labels in ``is_fraud``: 1, 0 or unknown).

    All rows serve as history for the features and for the novelty detector; labelled rows train
    the supervised part when there are enough of each class. Rows features cannot use (no valid
    time, amount or account) are skipped and counted in ``summary["skipped"]``. ``metrics`` are
    measured on the latest 20 % of labelled rows by time, scored by a booster that never saw them
    (empty when the model is unsupervised).

    Risk levels are set by alert budget (``budgets``, shares of normal traffic per level; see
    :mod:`scoring.engine.levels`) on the same out-of-sample calibration slice, and stored in the
    artifact (``artifact["levels"]``) and the summary (``summary["levels"]``). Without that
    slice (unsupervised, or too few recent frauds) there are no levels: the score is then the
    probability × 100 with the fixed 40/70/90 cut-offs. Bad budgets raise ``ValueError``.
    """
    started = time.monotonic()
    if budgets is not None:
        check_budgets(budgets)  # refuse bad settings before spending the training time
    frame, skipped = usable_rows(frame)
    if frame.empty:
        raise ValueError(f"No transactions to train on{_skipped_text(skipped)}.")
    if "id" not in frame:
        frame["id"] = np.arange(1, len(frame) + 1)
    frame = frame.sort_values(["occurred_at", "id"], kind="stable")
    spec = feature_spec(frame)
    spec["raw"] = raw_spec(frame)
    spec["feature_names"] = [*spec["feature_names"], *spec["raw"]["names"]]
    features, labels = compute_training_features(frame, spec)
    names = spec["feature_names"]
    X = features.to_numpy(dtype=float)
    y = labels.to_numpy(dtype=float)
    fitted, held_out = _fit_candidates(X, y, names=names, spec=spec, seed=seed)
    selected = _select(held_out)
    estimator = fitted[selected]
    validation = {
        name: {
            **ranking_metrics(h["y"], h["scores"]),
            **budget_metrics(h["y"], h["scores"], budgets),
        }
        for name, h in held_out.items()
    }
    metrics: dict[str, Any] = {}
    levels = _calibrate(held_out.get(selected, {}), budgets)
    if selected in held_out:
        chosen = held_out[selected]
        metrics = ranking_metrics(chosen["y"], chosen["scores"])
        metrics.update(
            holdout_rows=len(chosen["y"]),
            holdout_positives=int(np.sum(chosen["y"])),
            selected_candidate=selected,
        )
    legit = X[y == 0] if (y == 0).any() else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: neutral 0 below
        neutral = np.nanmedian(legit, axis=0) if len(legit) else np.zeros(X.shape[1])
    neutral = np.where(np.isnan(neutral), 0.0, neutral)
    times = frame["occurred_at"]
    known = ~np.isnan(y)
    ensemble = fitted["ensemble"]
    summary: dict[str, Any] = {
        "rows": len(frame),
        "labelled": int(known.sum()),
        "positives": int(np.nansum(y)),
        "fraud_rate": round(float(np.nanmean(y)), 5) if known.any() else None,
        "accounts": int(frame["account_id"].nunique()),
        "from": times.min().isoformat(),
        "to": times.max().isoformat(),
        "mode": estimator.mode,
        "features": len(names),
        "metadata_features": sorted(spec["metadata_keys"].values()),
        "metadata_selection": spec.get("metadata_selection", {}),
        "ensemble": ensemble.info,
        "selection": _selection_summary(selected, fitted, validation, held_out, known, times),
    }
    if "fraud_pattern" in frame:
        fraud = frame["is_fraud"].fillna(0).astype(bool).to_numpy()
        patterns = frame.loc[fraud, "fraud_pattern"].fillna("")
        summary["patterns"] = {k or "unknown": int(v) for k, v in patterns.value_counts().items()}
    if levels is not None:
        summary["levels"] = levels_summary(levels)
    summary["skipped"] = skipped
    summary["train_seconds"] = round(time.monotonic() - started, 2)
    artifact = {
        "estimator": estimator,
        "feature_names": list(names),
        "feature_spec": spec,
        "neutral": dict(zip(names, map(float, neutral), strict=True)),
        "algorithm": ALGORITHMS[selected]
        if estimator.mode == "supervised"
        else ALGORITHM_UNSUPERVISED,
        "mode": estimator.mode,
        "candidate": selected,
    }
    if levels is not None:
        artifact["levels"] = levels.to_dict()
    return TrainedModel(artifact=artifact, metrics=metrics, summary=summary, candidates=fitted)


def candidate_inputs(names: list[str]) -> dict[str, list[int]]:
    """Columns of the feature matrix each member reads: the ensemble everything but the raw
    columns, the raw booster the raw columns and the metadata."""
    return {
        "ensemble": [i for i, n in enumerate(names) if not n.startswith(RAW_PREFIX)],
        "raw_booster": [
            i for i, n in enumerate(names) if n.startswith((RAW_PREFIX, METADATA_PREFIX))
        ],
    }


def _fit_candidates(
    X: np.ndarray, y: np.ndarray, *, names: list[str], spec: dict[str, Any], seed: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Every candidate that can be fitted, and each one's validation-slice scores."""
    inputs = candidate_inputs(names)
    columns = inputs["ensemble"]
    ensemble, ensemble_held_out = fit_ensemble(
        X[:, columns], y, feature_names=[names[i] for i in columns], seed=seed
    )
    ensemble.inputs = np.asarray(columns)
    fitted: dict[str, Any] = {"ensemble": ensemble}
    held_out: dict[str, dict[str, Any]] = {}
    if not ensemble_held_out:
        return fitted, held_out
    held_out["ensemble"] = ensemble_held_out
    raw, raw_held_out = fit_raw_booster(
        X,
        y,
        feature_names=names,
        inputs=inputs["raw_booster"],
        category_counts=category_counts(spec["raw"]),
        seed=seed,
    )
    if raw is None:
        return fitted, held_out
    fitted["raw_booster"], held_out["raw_booster"] = raw, raw_held_out
    members = {"ensemble": ensemble, "raw_booster": raw}
    fitted["blend"], held_out["blend"] = fit_blend(members, {n: held_out[n] for n in members})
    return fitted, held_out


def _select(held_out: dict[str, dict[str, Any]]) -> str:
    """The candidate with the best validation average precision (``ensemble`` without a slice),
    a later one in ``CANDIDATES`` only when it wins by ``SELECTION_MARGIN``."""
    if not held_out:
        return "ensemble"
    scored = {
        name: ranking_metrics(h["y"], h["scores"])["average_precision"] or 0.0
        for name, h in held_out.items()
    }
    chosen = None
    for name in CANDIDATES:
        if name in scored and (chosen is None or scored[name] > scored[chosen] + SELECTION_MARGIN):
            chosen = name
    return chosen


def _selection_summary(selected, fitted, validation, held_out, known, times) -> dict[str, Any]:
    """What the registry records of the selection: the winner, the slice it was judged on and
    every candidate's validation metrics and inputs."""
    out: dict[str, Any] = {"selected": selected, "candidates": {}}
    if held_out:
        first = held_out[selected]
        labelled_times = times.to_numpy()[known]
        out["validation"] = {
            "rows": len(first["y"]),
            "positives": int(np.sum(first["y"])),
            "from": pd.Timestamp(labelled_times[len(labelled_times) - len(first["y"])]).isoformat(),
        }
    else:
        out["reason"] = "no validation slice (too few labels or recent frauds): the ensemble serves"
    for name, model in fitted.items():
        entry: dict[str, Any] = {"validation": validation.get(name)}
        if hasattr(model, "feature_names") and name == "raw_booster":
            entry["features"] = list(model.feature_names)
        entry["info"] = model.info
        out["candidates"][name] = entry
    return out


def _calibrate(held_out: dict[str, Any], budgets: dict[str, float] | None):
    """Levels from the calibration slice's out-of-sample probabilities, or None without one."""
    if not held_out or not (np.asarray(held_out["y"]) == 0).any():
        return None
    return calibrate_levels(probabilities=held_out["scores"], labels=held_out["y"], budgets=budgets)


def levels_summary(levels: LevelCalibration) -> dict[str, Any]:
    """What the registry records and ``/models/`` shows of a calibration (no rank table):
    per level its threshold as log-odds and as probability, the budget, the share of normal
    calibration traffic at or above it, the expected precision and the rows it was measured on."""
    return {
        level: {
            "log_odds": round(levels.thresholds[level], 4),
            "probability": float(1 / (1 + np.exp(-levels.thresholds[level]))),
            "budget": levels.budgets[level],
            "normal_share": round(levels.normal_share[level], 6),
            "expected_precision": (
                None
                if levels.expected_precision[level] is None
                else round(float(levels.expected_precision[level]), 4)
            ),
            "rows": levels.rows[level],
        }
        for level in levels.thresholds
    }


def artifact_levels(artifact: dict[str, Any]) -> LevelCalibration | None:
    """The artifact's level calibration (None for artifacts trained before levels existed)."""
    data = artifact.get("levels")
    return LevelCalibration.from_dict(data) if data else None


def model_risk(artifact: dict[str, Any], probabilities: np.ndarray) -> np.ndarray:
    """The model's displayed risk, 0-100: the calibrated one-decimal map when the artifact has
    levels, else the probability × 100 rounded to a whole number (older artifacts)."""
    levels = artifact_levels(artifact)
    if levels is None:
        return np.clip(np.rint(np.asarray(probabilities, dtype=float) * 100), 0, 100)
    return display_risk(levels, probabilities)


def _skipped_text(skipped: dict[str, int]) -> str:
    if not skipped:
        return ""
    return " (skipped: " + "; ".join(f"{n:,} with {why}" for why, n in skipped.items()) + ")"


def save_artifact(artifact: dict[str, Any], path: Path) -> str:
    """Write the artifact; return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(artifact, tmp, compress=3)
    tmp.replace(path)
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ModelIntegrityError(Exception):
    """The model file is missing or does not match the hash recorded in the registry."""


def load_artifact(path: Path, *, sha256: str) -> dict[str, Any]:
    """Load a model file after checking it against its registered SHA-256."""
    if not path.exists():
        raise ModelIntegrityError(f"Model file {path} does not exist.")
    actual = file_sha256(path)
    if actual != sha256:
        raise ModelIntegrityError(
            f"Model file {path} has SHA-256 {actual[:12]}…, registry expects {sha256[:12]}…; "
            "refusing to load it."
        )
    try:
        artifact = joblib.load(path)
    except Exception as exc:
        raise ModelIntegrityError(f"Model file {path} cannot be loaded: {exc}") from exc
    if not isinstance(artifact, dict) or "estimator" not in artifact:
        raise ModelIntegrityError(f"Model file {path} is not a model artifact.")
    return artifact


def predict_proba(artifact: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    """Fraud probability per row, from features computed with
    ``compute_features(frame, artifact=artifact)``."""
    missing = [n for n in artifact["feature_names"] if n not in features.columns]
    if missing:
        raise KeyError(
            f"Features {missing} are missing; compute them with "
            "compute_features(frame, artifact=artifact)."
        )
    names = artifact["feature_names"]
    # compute_features gives the artifact's columns in its order: no reindexing copy then.
    same = len(features.columns) == len(names) and all(features.columns == names)
    X = (features if same else features[names]).to_numpy(dtype=float)
    if len(X) == 0:
        return np.zeros(0)
    return artifact["estimator"].predict_proba(X)[:, 1]
