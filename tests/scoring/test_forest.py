"""The compiled IsolationForest (``scoring.engine.forest``) gives scikit-learn's scores bit for
bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from scoring.engine.forest import (
    VECTORISED_MAX_ROWS,
    CompiledIsolationForest,
    compile_isolation_forest,
)


def _data(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6)) * [1, 10, 0.1, 100, 1, 1]
    X[:, 4] = np.round(X[:, 4])  # ties on thresholds: values equal to a split point
    return X


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_scores_are_identical_for_any_number_of_rows(max_features):
    forest = IsolationForest(n_estimators=60, max_features=max_features, random_state=3)
    forest.fit(_data(2000, 1))
    compiled = compile_isolation_forest(forest, _data(256, 2))
    assert isinstance(compiled, CompiledIsolationForest)
    X = _data(VECTORISED_MAX_ROWS + 50, 4)
    assert compiled.score_samples(X[:0]).shape == (0,)  # scikit-learn refuses no rows
    for rows in (1, 7, VECTORISED_MAX_ROWS, VECTORISED_MAX_ROWS + 50):
        assert np.array_equal(compiled.score_samples(X[:rows]), forest.score_samples(X[:rows]))
    # The vectorised walk itself, above the size where the forest's own walk takes over.
    assert np.array_equal(compiled._score_vectorised(X), forest.score_samples(X))


def test_what_cannot_be_compiled_is_left_to_scikit_learn():
    assert compile_isolation_forest(object(), _data(4, 0)) is None
    assert compile_isolation_forest(IsolationForest(), _data(4, 0)) is None  # not fitted
    with pytest.raises(ValueError, match="columns"):
        forest = IsolationForest(n_estimators=5, random_state=0).fit(_data(100, 0))
        CompiledIsolationForest(forest).score_samples(np.zeros((2, 3)))
