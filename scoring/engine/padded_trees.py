"""Decision trees held as padded arrays and descended level by level, all trees and rows at
once, with numpy: what the compiled IsolationForest (:mod:`scoring.engine.forest`) and the
compiled boosted trees (:mod:`scoring.engine.boosting`) evaluate instead of scikit-learn's
tree-by-tree calls from Python."""

from __future__ import annotations

import numpy as np


class PaddedTrees:
    """``n_trees`` trees as ``(n_trees, width)`` node arrays, filled in by the caller: a node
    goes to ``left`` when its row's ``feature`` value is ``<= threshold``, else to ``right``; a
    missing value (NaN) goes left where ``missing_left`` says so (None: inputs have none). The
    nodes past a smaller tree's last are leaves, never reached."""

    def __init__(self, n_trees: int, width: int):
        shape = (n_trees, width)
        self.is_leaf = np.ones(shape, dtype=bool)
        self.left = np.zeros(shape, dtype=np.int64)
        self.right = np.zeros(shape, dtype=np.int64)
        self.feature = np.zeros(shape, dtype=np.int64)
        self.threshold = np.zeros(shape, dtype=np.float64)
        self.missing_left: np.ndarray | None = None
        self.levels = 0  # the deepest leaf's depth: at most this many steps down
        self.tree_ids = np.arange(n_trees)[None, :]  # for fancy indexing: [tree_ids, node]

    def leaves(self, values: np.ndarray) -> np.ndarray:
        """``(rows, trees)``: the node each row of ``values`` (float64) ends on in each tree."""
        rows = np.arange(len(values))[:, None]
        trees = self.tree_ids
        node = np.zeros((len(values), trees.shape[1]), dtype=np.int64)
        for _ in range(self.levels):
            leaf = self.is_leaf[trees, node]
            if leaf.all():
                break
            x = values[rows, self.feature[trees, node]]
            go_left = x <= self.threshold[trees, node]
            if self.missing_left is not None:
                go_left = np.where(np.isnan(x), self.missing_left[trees, node], go_left)
            child = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(leaf, node, child)
        return node
