"""The compiled gradient-boosted trees (``scoring.engine.boosting``) give scikit-learn's
probabilities bit for bit, and the registry serves a champion with them."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from scoring.engine.boosting import VECTORISED_MAX_ROWS, CompiledBooster, compile_booster
from scoring.engine.ensemble import Ensemble, booster
from scoring.engine.features import compute_features
from scoring.engine.forest import CompiledIsolationForest
from scoring.engine.ml import predict_proba
from scoring.services.registry import models_active


def _data(rows: int, seed: int, columns: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns)) * np.linspace(0.1, 100, columns)
    X[:, 1] = np.round(X[:, 1])  # few distinct values: rows equal to a split point
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values, sent where each split learnt
    return X


def _fitted(**options) -> HistGradientBoostingClassifier:
    X = _data(3000, 1)
    y = (np.nan_to_num(X[:, 0]) * 10 + np.nan_to_num(X[:, 1]) > 8).astype(int)
    return booster(0, max_iter=60, early_stopping=False, **options).fit(X, y)


def test_probabilities_are_identical_for_any_number_of_rows():
    gbm = _fitted()
    compiled = compile_booster(gbm, _data(256, 2))
    assert isinstance(compiled, CompiledBooster)
    X = _data(VECTORISED_MAX_ROWS + 40, 4)
    # Rows exactly on the learnt thresholds go left, as in scikit-learn.
    nodes = gbm._predictors[0][0].nodes
    split = nodes[~nodes["is_leaf"].astype(bool)][0]
    X[0, split["feature_idx"]] = split["num_threshold"]
    X[1, :] = np.nan
    for rows in (1, 2, VECTORISED_MAX_ROWS, VECTORISED_MAX_ROWS + 40):
        assert np.array_equal(compiled.predict_proba(X[:rows]), gbm.predict_proba(X[:rows]))
    # The vectorised walk itself, above the size where scikit-learn's takes over.
    ours = gbm._loss.predict_proba(compiled._raw_vectorised(X))
    assert np.array_equal(ours, gbm.predict_proba(X))


def test_what_cannot_be_compiled_is_left_to_scikit_learn():
    assert compile_booster(object(), _data(4, 0)) is None
    assert compile_booster(HistGradientBoostingClassifier(), _data(4, 0)) is None  # not fitted
    categorical = np.zeros(6, dtype=bool)
    categorical[1] = True
    X = np.abs(np.nan_to_num(_data(3000, 1)))
    X[:, 1] = np.round(X[:, 1]) % 7
    y = (X[:, 1] == 3).astype(int)
    with_categories = booster(0, max_iter=5, categorical=categorical).fit(X, y)
    assert compile_booster(with_categories, X[:50]) is None
    with pytest.raises(ValueError, match="columns"):
        CompiledBooster(_fitted()).predict_proba(np.zeros((2, 3)))


@pytest.mark.django_db
def test_the_registry_serves_the_champion_with_compiled_trees(champion, synthetic_history):
    artifact = models_active().champion[1]
    ensemble = artifact["estimator"]
    assert isinstance(ensemble, Ensemble)
    assert isinstance(ensemble.gbm, CompiledBooster)
    assert isinstance(ensemble.isolation, CompiledIsolationForest)
    on_disk = joblib.load(champion.file_path)  # what the file holds, scikit-learn's own trees
    assert isinstance(on_disk["estimator"].gbm, HistGradientBoostingClassifier)
    features = compute_features(synthetic_history.tail(300), artifact=artifact)
    for rows in (1, 5, 300):
        part = features.tail(rows)
        assert np.array_equal(predict_proba(artifact, part), predict_proba(on_disk, part))
