"""Population stability index (PSI): how far a distribution has moved from a reference.

PSI = sum over bins of (current share - reference share) * ln(current share / reference share).
Rules of thumb: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 a large shift.

Bins are the reference's deciles (so each holds about a tenth of the reference); a feature with
few distinct values gets one bin per value automatically because equal quantiles collapse.
Missing values are a bin of their own, so a feature that suddenly stops being computed counts
as drift too. Shares are floored at ``EPSILON`` so an empty bin does not make PSI infinite.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-4
DEFAULT_BINS = 10
# Risk scores are 0-100: fixed bins of ten points are easier to read than deciles.
SCORE_EDGES = np.arange(10, 100, 10, dtype=float)


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    counts = np.bincount(
        np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1
    ).astype(float)
    counts = np.append(counts, missing.sum())
    return np.maximum(counts / max(len(values), 1), EPSILON)


def psi(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    bins: int = DEFAULT_BINS,
    edges: np.ndarray | None = None,
) -> float | None:
    """PSI of ``current`` against ``reference``; ``None`` when either side is empty."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    if len(reference) == 0 or len(current) == 0:
        return None
    if edges is None:
        present = reference[~np.isnan(reference)]
        if len(present):
            quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
            edges = np.unique(quantiles)
        else:
            edges = np.array([], dtype=float)
    ref = _shares(reference, edges)
    cur = _shares(current, edges)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def score_psi(reference: np.ndarray, current: np.ndarray) -> float | None:
    """PSI of risk scores (0-100) on fixed ten-point bins."""
    return psi(reference, current, edges=SCORE_EDGES)
