"""The ensemble artifact: supervised + novelty with labels, novelty alone without labels."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from scoring.engine.ensemble import MIN_CLASS_LABELS, Ensemble
from scoring.engine.features import compute_features
from scoring.engine.ml import load_artifact, predict_proba, train


def _split(frame: pd.DataFrame, share: float = 0.75):
    cut = frame["occurred_at"].quantile(share)
    return frame[frame["occurred_at"] < cut], frame[frame["occurred_at"] >= cut]


def _holdout_scores(artifact, frame, test):
    features = compute_features(frame.drop(columns=["is_fraud"]), artifact=artifact)
    return predict_proba(artifact, features.loc[test.index])


def test_supervised_artifact(trained_model_file, synthetic_history):
    _, _, trained = trained_model_file
    artifact = trained.artifact
    assert artifact["mode"] == "supervised" and isinstance(artifact["estimator"], Ensemble)
    assert {"merchant_fraud_rate", "category_fraud_rate"} <= set(artifact["feature_names"])
    assert artifact["feature_names"] == artifact["feature_spec"]["feature_names"]
    assert set(artifact["neutral"]) == set(artifact["feature_names"])
    assert trained.metrics["holdout_positives"] > 0
    assert 0.5 < trained.metrics["roc_auc"] <= 1
    summary = trained.summary
    assert summary["rows"] == len(synthetic_history) and summary["mode"] == "supervised"
    assert summary["positives"] == int(synthetic_history["is_fraud"].sum())
    features = compute_features(synthetic_history, artifact=artifact)
    proba = predict_proba(artifact, features)
    assert proba.shape == (len(synthetic_history),)
    assert ((proba >= 0) & (proba <= 1)).all()
    fraud = synthetic_history["is_fraud"].to_numpy() == 1
    assert proba[fraud].mean() > 5 * proba[~fraud].mean()


def test_without_labels_novelty_alone_ranks_transactions(synthetic_history):
    frame = synthetic_history.assign(is_fraud=np.nan)
    trained = train(frame, seed=0)
    artifact = trained.artifact
    assert artifact["mode"] == "unsupervised" and trained.metrics == {}
    assert "merchant_fraud_rate" not in artifact["feature_names"]
    assert "need" in trained.summary["ensemble"]["reason"]
    proba = predict_proba(artifact, compute_features(frame, artifact=artifact))
    truth = synthetic_history["is_fraud"].to_numpy()
    # Better than chance on the hidden labels.
    assert average_precision_score(truth, proba) > 3 * truth.mean()


def test_too_few_labels_fall_back_to_novelty(synthetic_history):
    frame = synthetic_history.copy()
    fraud_rows = frame.index[frame["is_fraud"] == 1]
    frame.loc[fraud_rows[MIN_CLASS_LABELS - 1 :], "is_fraud"] = np.nan
    trained = train(frame, seed=0)
    assert trained.artifact["mode"] == "unsupervised"
    assert trained.summary["labelled"] == frame["is_fraud"].notna().sum()


def test_labels_improve_on_novelty_alone(synthetic_history):
    train_part, test = _split(synthetic_history)
    supervised = train(train_part, seed=0).artifact
    unsupervised = train(train_part.assign(is_fraud=np.nan), seed=0).artifact
    truth = test["is_fraud"].to_numpy()
    ap_supervised = average_precision_score(
        truth, _holdout_scores(supervised, synthetic_history, test)
    )
    ap_unsupervised = average_precision_score(
        truth, _holdout_scores(unsupervised, synthetic_history, test)
    )
    assert ap_supervised > ap_unsupervised


def test_artifact_round_trip_and_missing_features(trained_model_file, synthetic_history, tmp_path):
    path, sha, trained = trained_model_file
    loaded = load_artifact(path, sha256=sha)
    features = compute_features(synthetic_history.tail(50), artifact=loaded)
    np.testing.assert_allclose(
        predict_proba(loaded, features), predict_proba(trained.artifact, features)
    )
    with pytest.raises(KeyError, match="compute_features"):
        predict_proba(loaded, compute_features(synthetic_history.tail(50)))


def test_training_needs_transactions():
    with pytest.raises(ValueError, match="No transactions"):
        train(pd.DataFrame(columns=["id", "account_id", "amount", "occurred_at", "is_fraud"]))


def test_a_short_window_trains_without_the_rates_it_cannot_know_yet(synthetic_history):
    # Eight days of labels: the fraud rates need labels LABEL_DELAY (7 days) old, so they are
    # empty in every row the booster is first fitted on. scikit-learn's binning stops on an
    # all-empty column ("window shape cannot be larger than input array shape"); the booster
    # leaves it out instead, and the model still scores.
    end = synthetic_history["occurred_at"].max()
    short = synthetic_history[synthetic_history["occurred_at"] >= end - timedelta(days=8)]
    trained = train(short, seed=0)
    artifact = trained.artifact
    assert artifact["mode"] == "supervised"
    ensemble = trained.candidates["ensemble"]
    names = [artifact["feature_names"][i] for i in ensemble.inputs]
    used = {names[i] for i in ensemble.used}
    assert "merchant_fraud_rate" in names and "merchant_fraud_rate" not in used
    assert "amount_log" in used
    proba = predict_proba(artifact, compute_features(short, artifact=artifact))
    assert np.isfinite(proba).all() and len(proba) == len(short)
