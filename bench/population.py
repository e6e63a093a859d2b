"""The synthetic population the scoring benchmarks load, and the champion they score with.

One population for the pipeline benchmark (``test_bench_pipeline.py``) and the history-growth
benchmark (``test_bench_history_growth.py``): the generator's accounts over 45 days, about 120
transactions per account whatever the size, so a batch's accounts hold the same history (about
27 rows each in the 30-day look-back) at any table size; the latest rows are the ones posted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd

from scoring.engine.ml import train
from scoring.engine.synthetic import generate_history
from scoring.services.registry import model_promote, model_register

END = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 45
ROWS_PER_ACCOUNT = 120


def population(*, history: int, posted: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, to post): one synthetic population sorted by time, the latest ``posted`` rows
    last; external ids unique to this call."""
    accounts = max(200, (history + posted) // ROWS_PER_ACCOUNT)
    frame = generate_history(n_accounts=accounts, days=DAYS, end=END, seed=seed)
    while len(frame) < history + posted:
        accounts = int(accounts * 1.5 * (history + posted) / len(frame))
        frame = generate_history(n_accounts=accounts, days=DAYS, end=END, seed=seed)
    frame = frame.sort_values("occurred_at", kind="stable").tail(history + posted)
    frame = frame.reset_index(drop=True)
    frame["external_id"] = [f"bench-{uuid.uuid4().hex[:8]}-{i}" for i in range(len(frame))]
    return frame.iloc[:history], frame.iloc[history:]


def champion_register(history: pd.DataFrame, *, train_rows: int) -> dict:
    """Train on the latest ``train_rows`` of ``history`` and put the result into service as a
    deployment would (``model_register`` then ``model_promote``: file under
    ``MODEL_STORE_DIR``, audited); returns the artifact."""
    sample = history.tail(train_rows).reset_index(drop=True)
    sample.insert(0, "id", range(1, len(sample) + 1))
    trained = train(sample, seed=0)
    version = model_register(trained=trained, actor_label="system:bench")
    model_promote(model_version=version, actor_label="system:bench")
    return trained.artifact
