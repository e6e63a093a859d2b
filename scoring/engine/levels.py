"""Risk levels by alert budget, and a displayed risk that keeps its resolution where it matters.

Fixed probability cut-offs saturate: a well-separated model puts nearly every alert at 0.99+, so
every case is "critical" and nothing ranks the queue. Instead, at training time the hold-out's
*normal* traffic (rows not labelled fraud) fixes each level's threshold by an alert budget: about
0.05 % / 0.2 % / 1 % of normal traffic reaches ``critical`` / ``high`` / ``medium``. The expected
precision of each level (share of fraud among hold-out rows in that level) is recorded with it.

The displayed risk (0-100, one decimal) is a monotone map of the model's log-odds:

- below ``medium``: the rank among normal traffic, scaled to 0-40 (so 20 ≈ a typical payment);
- ``medium`` → ``high`` → ``critical``: linear in log-odds between the anchors 40, 70 and 90
  (the same anchors as the settings' RISK_LEVEL_THRESHOLDS, so a displayed 70 is ``high``);
- above ``critical``: half a point per unit of log-odds from 90 (capped at 99.9), so two critical
  alerts whose odds differ by a quarter of a unit or more (0.990 vs 0.9925, 0.9999 vs
  0.99992) always show different risks until the cap, twenty units above the threshold.

Pure numpy: no Django, the same code at training (to calibrate) and serving (to map).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

LEVELS = ("medium", "high", "critical")  # ascending; below medium is "low"
DEFAULT_BUDGETS = {"medium": 0.01, "high": 0.002, "critical": 0.0005}
ANCHORS = {"medium": 40.0, "high": 70.0, "critical": 90.0}
# Quantiles of normal traffic kept for the rank part of the display map.
REFERENCE_POINTS = 201
_EPS = 1e-9
# Displayed points per unit of log-odds above the critical threshold.
CRITICAL_POINTS_PER_LOG_ODDS = 0.5


def log_odds(probabilities) -> np.ndarray:
    """Log-odds of probabilities, clipped so 0 and 1 stay finite."""
    p = np.clip(np.asarray(probabilities, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class LevelCalibration:
    """Where each level starts (in log-odds), what it was expected to catch, and the rank map.

    ``thresholds``: log-odds at or above which each level applies. ``normal_share``: share of
    the hold-out's normal traffic at or above it (≈ the budget). ``expected_precision``: share of
    fraud among hold-out rows that fall in the level's band (``None`` with no rows there).
    ``reference``: quantiles of normal traffic's log-odds, for the rank part of the display.
    """

    thresholds: dict[str, float]
    budgets: dict[str, float]
    normal_share: dict[str, float]
    expected_precision: dict[str, float | None]
    rows: dict[str, int]
    reference: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form, stored in the model artifact and the model version."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LevelCalibration:
        """The calibration stored by :meth:`to_dict`."""
        return cls(
            thresholds={k: float(v) for k, v in data["thresholds"].items()},
            budgets={k: float(v) for k, v in data["budgets"].items()},
            normal_share={k: float(v) for k, v in data["normal_share"].items()},
            expected_precision=dict(data["expected_precision"]),
            rows={k: int(v) for k, v in data["rows"].items()},
            reference=[float(v) for v in data.get("reference", [])],
        )


def check_budgets(budgets: dict[str, float]) -> dict[str, float]:
    """The budgets as floats per level; ``ValueError`` naming what is wrong with them."""
    missing = [level for level in LEVELS if level not in budgets]
    if missing:
        raise ValueError(f"Alert budgets are missing for {', '.join(missing)}.")
    values = [float(budgets[level]) for level in LEVELS]
    if not all(0 < v < 1 for v in values):
        raise ValueError("Each alert budget is a share of normal traffic between 0 and 1.")
    if not values[0] > values[1] > values[2]:
        raise ValueError("Budgets must shrink from medium to high to critical.")
    return dict(zip(LEVELS, values, strict=True))


def calibrate_levels(
    *, probabilities, labels, budgets: dict[str, float] | None = None
) -> LevelCalibration:
    """Thresholds that let about ``budgets[level]`` of normal hold-out traffic reach each level.

    ``labels``: 1 fraud, 0 normal, NaN unknown (unknown rows count as normal traffic: that is
    what the alert budget is spent on in production).
    """
    budgets = check_budgets(budgets or DEFAULT_BUDGETS)
    odds = log_odds(probabilities)
    y = np.asarray(labels, dtype=float)
    if odds.shape != y.shape:
        raise ValueError("probabilities and labels must have the same length.")
    normal = odds[~(y == 1)]
    if len(normal) == 0:
        raise ValueError("Calibrating levels needs normal (non-fraud) hold-out rows.")
    thresholds: dict[str, float] = {}
    floor = -np.inf
    for level in LEVELS:
        # The smallest threshold that keeps the normal share at or below the budget; ties at the
        # quantile go above it, so a budget is never overspent by a block of equal scores.
        cut = float(np.quantile(normal, 1 - budgets[level], method="higher"))
        cut = np.nextafter(cut, np.inf) if np.mean(normal >= cut) > budgets[level] else cut
        cut = max(cut, np.nextafter(floor, np.inf))
        thresholds[level] = float(cut)
        floor = cut
    share, precision, rows = {}, {}, {}
    bounds = [*(thresholds[lv] for lv in LEVELS), np.inf]
    for i, level in enumerate(LEVELS):
        share[level] = float(np.mean(normal >= thresholds[level]))
        band = (odds >= bounds[i]) & (odds < bounds[i + 1]) & ~np.isnan(y)
        rows[level] = int(band.sum())
        precision[level] = float(np.mean(y[band] == 1)) if band.any() else None
    reference = np.quantile(normal, np.linspace(0, 1, REFERENCE_POINTS)).tolist()
    return LevelCalibration(
        thresholds=thresholds,
        budgets=budgets,
        normal_share=share,
        expected_precision=precision,
        rows=rows,
        reference=[float(v) for v in reference],
    )


def risk_levels(calibration: LevelCalibration, probabilities) -> np.ndarray:
    """``low`` / ``medium`` / ``high`` / ``critical`` for each probability."""
    odds = log_odds(probabilities)
    out = np.full(odds.shape, "low", dtype=object)
    for level in LEVELS:
        out[odds >= calibration.thresholds[level]] = level
    return out


def display_risk(calibration: LevelCalibration, probabilities) -> np.ndarray:
    """The 0-100 risk shown to investigators (one decimal), monotone in the probability."""
    odds = log_odds(probabilities)
    t = calibration.thresholds
    out = np.empty(odds.shape, dtype=float)
    # Rank among normal traffic below medium, scaled to [0, 40).
    reference = np.asarray(calibration.reference or [t["medium"] - 1, t["medium"]], dtype=float)
    ranks = np.interp(odds, reference, np.linspace(0, 1, len(reference)))
    rank_at_medium = float(np.interp(t["medium"], reference, np.linspace(0, 1, len(reference))))
    low = odds < t["medium"]
    out[low] = ANCHORS["medium"] * ranks[low] / max(rank_at_medium, _EPS)
    # Linear in log-odds between the level anchors.
    for lower, upper in (("medium", "high"), ("high", "critical")):
        band = (odds >= t[lower]) & (odds < t[upper])
        width = max(t[upper] - t[lower], _EPS)
        out[band] = (
            ANCHORS[lower] + (ANCHORS[upper] - ANCHORS[lower]) * (odds[band] - t[lower]) / width
        )
    top = odds >= t["critical"]
    out[top] = ANCHORS["critical"] + CRITICAL_POINTS_PER_LOG_ODDS * (odds[top] - t["critical"])
    # One decimal, but never rounded across a level boundary or up to 100.
    shown = np.floor(out * 10) / 10
    return np.clip(shown, 0.0, 99.9)
