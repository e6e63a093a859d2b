"""The detector inside a model artifact: gradient boosting + IsolationForest → one probability.

* **Novelty** (always): an IsolationForest fitted on the traffic not known to be fraud scores how
  unlike normal behaviour a transaction is. Its raw score is standardised against the training
  traffic (median 0, interquartile range 1), so it means the same from one model to the next.
* **Supervised** (when there are enough labels): a gradient-boosted classifier on the features
  *plus* the novelty score, trained on the earliest 80 % of labelled rows by time. On the latest
  20 % a two-input logistic regression (boosting log-odds, novelty) is fitted: it calibrates the
  output to a probability and decides how much novelty adds on top of what labels taught. The
  booster is then refitted on all labelled rows with the same number of trees.
* **No labels** (or too few): the novelty score alone, mapped through a logistic curve that gives
  0.5 at the 99th percentile of training traffic. That is a ranking, not a measured probability;
  the registry records the mode.

The artifact's feature matrix is shared by several candidate detectors (``scoring.engine.ml`` trains
them all and keeps the best on a time-ordered validation slice): each detector reads its own
columns of it (``inputs``). Besides the ensemble:

* :class:`RawBooster`: gradient boosting on the raw columns (amount, hour, weekday, place,
  merchant/category/channel/country codes, numeric metadata), calibrated by a logistic curve on
  the validation slice;
* :class:`Blend`: a logistic combination of the members' log-odds, its two weights fitted on the
  validation slice (and measured there by cross-fitting, so the fit does not flatter it).

Declarative rules are applied on top by the scoring service.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LogisticRegression

MIN_CLASS_LABELS = 10  # fraud and legitimate labels each, to train the supervised part
CALIBRATION_SHARE = 0.2
MIN_CALIBRATION_POSITIVES = 3
UNSUPERVISED_ALERT_SHARE = 0.01
ISOLATION_TREES = 100
ISOLATION_SAMPLE = 50_000
# The ensemble's booster may end a branch on as few as this many rows (the raw booster and the
# raw baseline keep 40): a rare pattern its features single out cleanly (a collusion ring's
# shared counterparty: a few dozen rows in a training set) is otherwise merged into a larger
# leaf. On five generated sets collusion-ring AP went from 0.47 to 0.66 (mean), overall AP was
# never lower and the Sparkov sample went from 0.969 to 0.968 (docs/peer-features.md).
ENSEMBLE_MIN_LEAF = 10


def booster(
    seed: int,
    *,
    max_iter: int = 300,
    early_stopping: bool = True,
    categorical: np.ndarray | None = None,
    min_samples_leaf: int = 40,
):
    """The gradient-boosted classifier of the ensemble, the raw booster and the raw baseline.
    ``categorical``: boolean mask of the input columns that are category codes;
    ``min_samples_leaf``: the fewest rows a leaf may hold (``ENSEMBLE_MIN_LEAF`` for the
    ensemble)."""
    return HistGradientBoostingClassifier(
        categorical_features=categorical,
        learning_rate=0.08,
        max_iter=max_iter,
        max_leaf_nodes=31,
        min_samples_leaf=min_samples_leaf,
        l2_regularization=1.0,
        early_stopping=early_stopping,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


@dataclass
class Ensemble:
    """Fitted detector; ``predict_proba`` has the scikit-learn shape ``(n, 2)``."""

    feature_names: list[str]
    fill: np.ndarray
    isolation: IsolationForest
    novelty_center: float
    novelty_scale: float
    mode: str = "unsupervised"
    gbm: HistGradientBoostingClassifier | None = None
    # Logistic stacker over (boosting log-odds, novelty): intercept, weight of each.
    stack: tuple[float, float, float] = (0.0, 1.0, 0.0)
    # No-labels mapping of novelty to a score: midpoint and slope of the logistic curve.
    unsupervised_curve: tuple[float, float] = (0.0, 1.0)
    info: dict[str, Any] = field(default_factory=dict)
    # Columns the booster uses: those with at least one value in the labelled rows it is first
    # fitted on (see fit_ensemble).
    used: np.ndarray | None = None
    # Columns of the artifact's feature matrix this ensemble reads (None: all of them, as in
    # artifacts trained before there were several candidates).
    inputs: np.ndarray | None = None

    def _own(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return X if self.inputs is None else X[:, self.inputs]

    def novelty(self, X: np.ndarray) -> np.ndarray:
        """How unlike training traffic each row is (0 = typical, higher = more unusual)."""
        X = self._own(X)
        filled = np.where(np.isnan(X), self.fill, X)
        raw = -self.isolation.score_samples(filled)
        return (raw - self.novelty_center) / self.novelty_scale

    def _supervised_input(self, X: np.ndarray, novelty: np.ndarray) -> np.ndarray:
        columns = X if self.used is None else X[:, self.used]
        return np.column_stack([columns, novelty])

    def fraud_probability(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        novelty = self.novelty(X)
        X = self._own(X)
        if self.mode == "unsupervised" or self.gbm is None:
            mid, slope = self.unsupervised_curve
            return _sigmoid(slope * (novelty - mid))
        boosted = _logit(self.gbm.predict_proba(self._supervised_input(X, novelty))[:, 1])
        intercept, w_boost, w_novelty = self.stack
        return _sigmoid(intercept + w_boost * boosted + w_novelty * novelty)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.fraud_probability(np.asarray(X, dtype=float))
        return np.column_stack([1 - p, p])


def validation_cut(n_labelled: int) -> int:
    """Where the validation slice starts among ``n_labelled`` labelled rows in time order: the
    latest ``CALIBRATION_SHARE`` of them. Every candidate is fitted before it and measured on it."""
    return int(n_labelled * (1 - CALIBRATION_SHARE))


def fit_ensemble(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    feature_names: list[str],
    seed: int = 0,
) -> tuple[Ensemble, dict[str, Any]]:
    """Fit on feature rows in time order; ``labels`` is 1/0/NaN (unknown) per row.

    Returns the ensemble and what was measured on the calibration slice (the latest labelled
    rows, never used to fit the booster that scored them): ``{"y", "scores"}`` or ``{}``.
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels, dtype=float)
    rng = np.random.default_rng(seed)
    not_fraud = labels != 1
    reference = X[not_fraud] if not_fraud.any() else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: filled with 0 below
        fill = np.nanmedian(reference, axis=0) if len(reference) else np.zeros(X.shape[1])
    fill = np.where(np.isnan(fill), 0.0, fill)
    if len(reference) > ISOLATION_SAMPLE:
        reference = reference[np.sort(rng.choice(len(reference), ISOLATION_SAMPLE, replace=False))]
    isolation = IsolationForest(
        n_estimators=ISOLATION_TREES, max_samples=256, random_state=seed, n_jobs=1
    ).fit(np.where(np.isnan(reference), fill, reference))
    raw = -isolation.score_samples(np.where(np.isnan(X), fill, X))
    q25, q50, q75 = np.quantile(raw, [0.25, 0.5, 0.75])
    ensemble = Ensemble(
        feature_names=list(feature_names),
        fill=fill,
        isolation=isolation,
        novelty_center=float(q50),
        novelty_scale=float(max(q75 - q25, 1e-6)),
    )
    novelty = (raw - ensemble.novelty_center) / ensemble.novelty_scale
    q99, q999 = np.quantile(novelty, [1 - UNSUPERVISED_ALERT_SHARE, 0.999])
    ensemble.unsupervised_curve = (float(q99), float(2.0 / max(q999 - q99, 1e-3)))

    known = ~np.isnan(labels)
    y = labels[known].astype(int)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    ensemble.info = {"labelled": len(y), "positives": positives}
    if positives < MIN_CLASS_LABELS or negatives < MIN_CLASS_LABELS:
        ensemble.info["reason"] = (
            f"{positives} fraud and {negatives} legitimate labels; the supervised part needs "
            f"{MIN_CLASS_LABELS} of each, so novelty alone ranks transactions."
        )
        return ensemble, {}

    cut = validation_cut(len(y))
    fit_part = slice(0, cut)
    calibrate = slice(cut, None)
    held_out: dict[str, Any] = {}
    y_fit, y_cal = y[fit_part], y[calibrate]
    calibrated = y_fit.sum() >= MIN_CLASS_LABELS and y_cal.sum() >= MIN_CALIBRATION_POSITIVES
    # The booster reads the columns with a value in the rows it is first fitted on: a data set
    # without devices or coordinates leaves features empty throughout, and the fraud rates are
    # empty until the first labels are LABEL_DELAY old, i.e. in all of the fitting rows of a
    # short training window (an all-empty column stops scikit-learn's binning).
    X_known = X[known]
    first_rows = X_known[fit_part] if calibrated else X_known
    ensemble.used = np.flatnonzero(~np.all(np.isnan(first_rows), axis=0))
    Xs = ensemble._supervised_input(X_known, novelty[known])
    if calibrated:
        first = booster(seed, min_samples_leaf=ENSEMBLE_MIN_LEAF).fit(Xs[fit_part], y_fit)
        boosted = _logit(first.predict_proba(Xs[calibrate])[:, 1])
        stacker = LogisticRegression(C=1.0).fit(
            np.column_stack([boosted, novelty[known][calibrate]]), y_cal
        )
        ensemble.stack = (
            float(stacker.intercept_[0]),
            float(stacker.coef_[0][0]),
            float(stacker.coef_[0][1]),
        )
        n_trees = max(int(first.n_iter_), 20)
        ensemble.gbm = booster(
            seed, max_iter=n_trees, early_stopping=False, min_samples_leaf=ENSEMBLE_MIN_LEAF
        ).fit(Xs, y)
        ensemble.mode = "supervised"
        intercept, w_boost, w_novelty = ensemble.stack
        held_out = {
            "y": y_cal,
            "scores": _sigmoid(
                intercept + w_boost * boosted + w_novelty * novelty[known][calibrate]
            ),
        }
    else:
        # Too few recent positives to calibrate on: the booster's own probabilities.
        ensemble.gbm = booster(seed, min_samples_leaf=ENSEMBLE_MIN_LEAF).fit(Xs, y)
        ensemble.mode = "supervised"
    ensemble.info["trees"] = int(ensemble.gbm.n_iter_)
    ensemble.info["stack"] = [round(v, 4) for v in ensemble.stack]
    return ensemble, held_out


# --- the other candidates -------------------------------------------------------------------

# Category codes with at most this many values are split as categories, not as numbers (the
# booster's own limit is 255 bins, one kept for missing values).
MAX_CATEGORIES = 250


class _TwoColumns:
    """``fraud_probability`` of a float matrix (empty in, empty out) from ``_probability``, and
    ``predict_proba`` in the scikit-learn shape ``(n, 2)``."""

    def _probability(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fraud_probability(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.zeros(0) if len(X) == 0 else self._probability(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.fraud_probability(X)
        return np.column_stack([1 - p, p])


@dataclass
class RawBooster(_TwoColumns):
    """Gradient boosting on raw columns, calibrated on the validation slice."""

    feature_names: list[str]
    inputs: np.ndarray
    gbm: HistGradientBoostingClassifier
    # Logistic calibration of the booster's log-odds: intercept, slope.
    calibration: tuple[float, float] = (0.0, 1.0)
    mode: str = "supervised"
    info: dict[str, Any] = field(default_factory=dict)

    def _probability(self, X: np.ndarray) -> np.ndarray:
        intercept, slope = self.calibration
        return _sigmoid(intercept + slope * _logit(self.gbm.predict_proba(X[:, self.inputs])[:, 1]))


@dataclass
class Blend(_TwoColumns):
    """``sigmoid(intercept + Σ weight × log-odds of each member)``; members read the same
    feature matrix (each its own columns)."""

    members: dict[str, Any]
    weights: dict[str, float]
    intercept: float = 0.0
    mode: str = "supervised"
    info: dict[str, Any] = field(default_factory=dict)

    def _probability(self, X: np.ndarray) -> np.ndarray:
        total = np.full(len(X), self.intercept)
        for name, member in self.members.items():
            total += self.weights[name] * _logit(member.predict_proba(X)[:, 1])
        return _sigmoid(total)


def fit_raw_booster(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    feature_names: list[str],
    inputs: list[int],
    category_counts: dict[str, int] | None = None,
    seed: int = 0,
) -> tuple[RawBooster | None, dict[str, Any]]:
    """Fit the raw booster on the labelled rows before the validation slice, measure it on the
    slice, then refit it on every labelled row (early stopping on its own inner split).

    ``inputs``: the columns of ``X`` it may read; those without a single value before the slice
    are left out (a data set without coordinates gives all-empty columns). ``category_counts``:
    number of codes of each category column (``raw_*`` code columns), split as categories when
    small. Returns ``(None, {})`` without enough labels for a validation slice.
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels, dtype=float)
    known = ~np.isnan(labels)
    y = labels[known].astype(int)
    cut = validation_cut(len(y))
    y_fit, y_val = y[:cut], y[cut:]
    if y_fit.sum() < MIN_CLASS_LABELS or y_val.sum() < MIN_CALIBRATION_POSITIVES:
        return None, {}
    Xk = X[known]
    columns = [i for i in inputs if not np.all(np.isnan(Xk[:cut, i]))]
    if not columns:
        return None, {}
    counts = category_counts or {}
    categorical = np.array(
        [0 < counts.get(feature_names[i], 0) <= MAX_CATEGORIES for i in columns], dtype=bool
    )
    categorical_arg = categorical if categorical.any() else None
    Xc = Xk[:, columns]
    first = booster(seed, categorical=categorical_arg).fit(Xc[:cut], y_fit)
    z = _logit(first.predict_proba(Xc[cut:])[:, 1])
    platt = LogisticRegression(C=1.0).fit(z[:, None], y_val)
    calibration = (float(platt.intercept_[0]), float(platt.coef_[0][0]))
    if calibration[1] <= 0:  # a calibration must keep the booster's order, never invert it
        calibration = (0.0, 1.0)
    # Refitted on every labelled row as a notebook would fit it: with its own early stopping
    # (a fixed tree count from the shorter fit lost up to 0.03 AP on the PCA-only set).
    final = booster(seed, categorical=categorical_arg)
    model = RawBooster(
        feature_names=[feature_names[i] for i in columns],
        inputs=np.asarray(columns),
        gbm=final.fit(Xc, y),
        calibration=calibration,
        info={"columns": len(columns), "categorical": int(categorical.sum())},
    )
    model.info["trees"] = int(model.gbm.n_iter_)
    return model, {"y": y_val, "scores": _sigmoid(calibration[0] + calibration[1] * z)}


def fit_blend(
    members: dict[str, Any], held_out: dict[str, dict[str, Any]]
) -> tuple[Blend, dict[str, Any]]:
    """Blend fitted members from their validation-slice probabilities (``held_out[name]``,
    aligned rows). The reported validation scores are cross-fitted: the weights that score the
    earlier half of the slice are fitted on the later half and the other way round."""
    names = list(members)
    y = np.asarray(held_out[names[0]]["y"], dtype=int)
    Z = np.column_stack([_logit(np.asarray(held_out[n]["scores"], dtype=float)) for n in names])
    half = len(y) // 2
    scores = np.empty(len(y))
    for fit_part, score_part in (
        (slice(half, None), slice(0, half)),
        (slice(0, half), slice(half, None)),
    ):
        if len(np.unique(y[fit_part])) < 2:  # one half without fraud: equal weights there
            scores[score_part] = _sigmoid(Z[score_part].mean(axis=1))
            continue
        part = LogisticRegression(C=1.0).fit(Z[fit_part], y[fit_part])
        scores[score_part] = part.predict_proba(Z[score_part])[:, 1]
    full = LogisticRegression(C=1.0).fit(Z, y)
    blend = Blend(
        members=members,
        weights={n: float(w) for n, w in zip(names, full.coef_[0], strict=True)},
        intercept=float(full.intercept_[0]),
    )
    blend.info = {"weights": {n: round(w, 4) for n, w in blend.weights.items()}}
    return blend, {"y": y, "scores": scores}
