"""Reason codes: plain words, at most three, from the features that pushed the score up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.engine.explain import MAX_REASONS, REASONS, _amount_text, _novelty_text, explain
from scoring.engine.features import compute_features
from scoring.engine.ml import predict_proba

CODES = {r.code for r in REASONS} | {"metadata"}


def test_amount_in_plain_words():
    row = pd.Series({"amount_ratio_median_30d": 14.2, "amount_ratio_max_30d": 3.0})
    text = _amount_text(row, pd.Series({"amount": 1420.0}))
    assert text == "14× this account's median (1,420.00 vs 100.00), its largest in 30 days"
    small = pd.Series({"amount_ratio_median_30d": 0.02, "amount_ratio_max_30d": 0.01})
    assert "card testing" in _amount_text(small, pd.Series({"amount": 1.0}))
    none = pd.Series({"amount_ratio_median_30d": np.nan, "amount_ratio_mean_30d": np.nan})
    assert "no payments in the previous 30 days" in _amount_text(none, pd.Series({"amount": 5.0}))


def test_novelty_counts_in_plain_words():
    text = _novelty_text("country", "countries", "country")
    row = pd.Series({"new_country_30d": 1.0, "new_countries_24h": 3.0})
    assert text(row, pd.Series({"country": "BR"})) == "3rd new country in 24 h (BR)"
    first = pd.Series({"new_country_30d": 1.0, "new_countries_24h": 1.0})
    assert (
        text(first, pd.Series({"country": "FR"})) == "first country FR for this account in 30 days"
    )
    # Not new: no evidence, so not a reason.
    assert text(pd.Series({"new_country_30d": 0.0}), pd.Series({"country": "FR"})) is None


def test_reasons_for_a_scored_history(trained_model_file, synthetic_history):
    _, _, trained = trained_model_file
    artifact = trained.artifact
    recent = synthetic_history[
        synthetic_history["occurred_at"]
        >= synthetic_history["occurred_at"].max() - pd.Timedelta(days=3)
    ]
    features = compute_features(synthetic_history, artifact=artifact).loc[recent.index]
    proba = predict_proba(artifact, features)
    reasons = explain(artifact, features, recent, proba)
    assert len(reasons) == len(recent)
    risky = proba >= 0.5
    assert risky.any()
    for i in np.flatnonzero(risky):
        assert 1 <= len(reasons[i]) <= MAX_REASONS, i
        for reason in reasons[i]:
            assert reason["code"] in CODES and reason["detail"]
            assert 0 <= reason["weight"] <= 100
    # Card testing is explained by its speed or its amounts, in words.
    testing = np.flatnonzero((recent["fraud_pattern"] == "card_testing").to_numpy() & risky)
    assert len(testing)
    codes = {r["code"] for i in testing for r in reasons[i]}
    assert codes & {"velocity", "amount_unusual"}
    details = " ".join(r["detail"] for i in testing for r in reasons[i])
    assert "transaction in" in details or "median" in details
    # Low-risk rows carry no reasons.
    calm = np.flatnonzero(proba < 0.01)
    assert calm.size and all(reasons[i] == [] for i in calm)


def test_empty_batch(trained_model_file):
    _, _, trained = trained_model_file
    empty = pd.DataFrame(columns=trained.artifact["feature_names"], dtype=float)
    assert explain(trained.artifact, empty, pd.DataFrame(), np.zeros(0)) == []


def test_rows_for_the_words_are_what_to_dict_gives():
    """``explain`` turns the worded rows into dicts column by column; the values and their
    Python types are those of ``DataFrame.to_dict("records")``."""
    import numpy as np
    import pandas as pd

    from scoring.engine.explain import _records

    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "amount": [1.5, np.nan, 3.0],
            "device_id": ["x", None, ""],
            "occurred_at": pd.to_datetime(["2026-01-01T00:00:00Z"] * 3, utc=True),
            "flag": [True, False, True],
        }
    )
    positions = np.array([1, 2, 0])
    ours, theirs = _records(frame, positions), frame.iloc[positions].to_dict("records")
    assert [list(r) for r in ours] == [list(r) for r in theirs]
    for mine, expected in zip(ours, theirs, strict=True):
        for key, value in expected.items():
            assert type(mine[key]) is type(value)
            assert mine[key] == value or (value != value and mine[key] != mine[key])
    assert _records(frame, np.array([], dtype=int)) == []
