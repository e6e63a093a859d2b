"""The scoring model: training, evaluation metrics, the saved artifact, and explanations.

The artifact is a plain dict saved with joblib: the fitted estimator, the feature names, and the
"neutral" value of each feature (its median on legitimate training rows) used to explain scores.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score

from .features import FEATURE_NAMES, compute_features

ALGORITHM = "HistGradientBoostingClassifier on behavioural features"
HOLDOUT_SHARE = 0.2
ALERT_BUDGET = 0.01


def _estimator(seed: int = 0) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.08,
        max_iter=300,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )


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


def train(frame: pd.DataFrame, *, seed: int = 0) -> TrainedModel:
    """Train on labelled transactions (``is_fraud`` column) and measure on a time-ordered hold-out.

    The latest ``HOLDOUT_SHARE`` of rows by time is held out to measure; the shipped model is then
    refitted on all rows so it knows the most recent behaviour.
    """
    started = time.monotonic()
    labelled = frame[frame["is_fraud"].notna()].copy()
    if labelled.empty:
        raise ValueError("No labelled transactions to train on.")
    y_all = labelled["is_fraud"].astype(int).to_numpy()
    if y_all.sum() < 5 or (len(y_all) - y_all.sum()) < 5:
        raise ValueError(
            f"Need at least 5 fraudulent and 5 legitimate labelled transactions; have "
            f"{int(y_all.sum())} and {int(len(y_all) - y_all.sum())}."
        )
    # Features use all rows (labelled or not) as history, computed once.
    features = compute_features(frame).loc[labelled.index]
    order = np.argsort(pd.to_datetime(labelled["occurred_at"], utc=True).to_numpy(), kind="stable")
    X = features.to_numpy()[order]
    y = y_all[order]
    cut = int(len(y) * (1 - HOLDOUT_SHARE))
    holdout_metrics: dict[str, Any] = {}
    if 0 < y[cut:].sum() < len(y) - cut and y[:cut].sum() > 0:
        probe = _estimator(seed).fit(X[:cut], y[:cut])
        holdout_metrics = ranking_metrics(y[cut:], probe.predict_proba(X[cut:])[:, 1])
        holdout_metrics.update(holdout_rows=len(y) - cut, holdout_positives=int(y[cut:].sum()))
    model = _estimator(seed).fit(X, y)
    legit = X[y == 0]
    neutral = np.nanmedian(legit, axis=0) if len(legit) else np.zeros(X.shape[1])
    neutral = np.where(np.isnan(neutral), 0.0, neutral)
    times = pd.to_datetime(labelled["occurred_at"], utc=True)
    summary = {
        "rows": len(y),
        "positives": int(y.sum()),
        "fraud_rate": round(float(y.mean()), 5),
        "accounts": int(labelled["account_id"].nunique()),
        "from": times.min().isoformat(),
        "to": times.max().isoformat(),
        "train_seconds": round(time.monotonic() - started, 2),
    }
    if "fraud_pattern" in labelled:
        patterns = labelled.loc[labelled["is_fraud"].astype(bool), "fraud_pattern"].fillna("")
        summary["patterns"] = {k or "unknown": int(v) for k, v in patterns.value_counts().items()}
    artifact = {
        "estimator": model,
        "feature_names": list(FEATURE_NAMES),
        "neutral": dict(zip(FEATURE_NAMES, map(float, neutral), strict=True)),
        "algorithm": ALGORITHM,
    }
    return TrainedModel(artifact=artifact, metrics=holdout_metrics, summary=summary)


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
    return joblib.load(path)


def predict_proba(artifact: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    """Fraud probability per row."""
    X = features[artifact["feature_names"]].to_numpy(dtype=float)
    if len(X) == 0:
        return np.zeros(0)
    return artifact["estimator"].predict_proba(X)[:, 1]
