"""The synthetic population the scoring benchmarks load, and the champion they score with.

One population for the pipeline benchmark (``test_bench_pipeline.py``) and the history-growth
benchmark (``test_bench_history_growth.py``): the generator's accounts over 45 days, about 120
transactions per account whatever the size, so a batch's accounts hold the same history (about
27 rows each in the 30-day look-back) at any table size; the latest rows are the ones posted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from django.conf import settings

from scoring.engine.ml import save_artifact, train
from scoring.engine.synthetic import generate_history
from scoring.models import ModelVersion

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
    """Train on the latest ``train_rows`` of ``history`` and register the result as the
    champion (its file under ``MODEL_STORE_DIR``); returns the artifact."""
    sample = history.tail(train_rows).reset_index(drop=True)
    sample.insert(0, "id", range(1, len(sample) + 1))
    trained = train(sample, seed=0)
    path = Path(settings.MODEL_STORE_DIR) / f"bench-{uuid.uuid4().hex[:8]}.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    sha = save_artifact(trained.artifact, path)
    ModelVersion.objects.create(
        version=f"bench-{sha[:8]}",
        algorithm=trained.artifact["algorithm"],
        role=ModelVersion.Role.CHAMPION,
        file_path=str(path),
        sha256=sha,
        feature_names=trained.artifact["feature_names"],
        training_summary=trained.summary,
        metrics=trained.metrics,
    )
    return trained.artifact
