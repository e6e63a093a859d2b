"""Performance targets of the detection pipeline (``make bench``), measured on 2 cores.

Plain timing tests, kept out of the unit test suite: training on 100k transactions in under a
minute, features of 200k rows, and scoring + explaining a 5,000-transaction API batch.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from scoring.engine.explain import explain
from scoring.engine.features import compute_features
from scoring.engine.ml import predict_proba, train
from scoring.engine.synthetic import generate_history

END = datetime(2026, 10, 1, tzinfo=UTC)


def _history(accounts: int, days: int, rows: int) -> pd.DataFrame:
    frame = generate_history(n_accounts=accounts, days=days, end=END, seed=5)
    frame = frame.tail(rows).reset_index(drop=True)
    frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


@pytest.fixture(scope="module")
def history_100k() -> pd.DataFrame:
    return _history(2000, 60, 100_000)


@pytest.fixture(scope="module")
def trained(history_100k):
    started = time.perf_counter()
    model = train(history_100k, seed=0)
    return model, time.perf_counter() - started


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def test_training_on_100k_transactions_takes_under_a_minute(trained):
    model, seconds = trained
    print(
        f"\ntrain 100k rows: {seconds:.1f} s ({model.summary['mode']}, "
        f"{model.summary['features']} features)"
    )
    assert model.summary["rows"] == 100_000
    assert seconds < 60


def test_features_of_200k_rows():
    frame = _history(4000, 60, 200_000)
    compute_features(frame.head(1000))  # warm-up
    seconds = best_of(3, lambda: compute_features(frame))
    print(f"\nfeatures 200k rows: {seconds:.2f} s")
    assert seconds < 2.0


def test_scoring_and_explaining_a_5000_batch(trained, history_100k):
    model, _ = trained
    artifact = model.artifact
    cut = history_100k["occurred_at"].iloc[-5000]
    # What the worker loads: the batch's accounts over the look-back window.
    batch = history_100k.tail(5000)
    history = history_100k[history_100k["account_id"].isin(set(batch["account_id"]))]
    history = history[history["occurred_at"] >= cut - pd.Timedelta(days=30)]

    def score():
        features = compute_features(history, artifact=artifact).loc[batch.index]
        proba = predict_proba(artifact, features)
        explain(artifact, features, history.loc[batch.index], proba)

    seconds = best_of(3, score)
    print(
        f"\nscore + explain 5,000 transactions ({len(history):,} rows of history): {seconds:.2f} s"
    )
    assert seconds < 5.0
