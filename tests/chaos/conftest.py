"""Fixtures of the fault-injection suite (``make chaos``; marker ``chaos``, never in make test).

One throwaway deployment per session: its own PostgreSQL and Redis servers, migrated, with a
synthetic labelled history, a trained champion and an API key; gunicorn (2 workers) and beat
run for the whole session, each test starts the Celery workers it needs. Every test records
what it sent, what was acknowledged, scored, lost and duplicated in ``chaos-results.json``
(``CHAOS_RESULTS``, default the repository's ``var/``), printed at the end of the run.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .cluster import ROOT, Deployment

RESULTS = Path(os.environ.get("CHAOS_RESULTS", ROOT / "var" / "chaos-results.json"))
_recorded: list[dict] = []


@pytest.fixture(scope="session")
def deployment():
    dep = Deployment.create()
    try:
        dep.manage("migrate", "--noinput", "-v", "0")
        # 25 days of labelled history up to two days ago, then the first champion.
        history_end = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        dep.manage(
            "generate_transactions", "--accounts", "150", "--days", "25", "--seed", "5",
            "--end", history_end,
        )  # fmt: skip
        dep.manage("train_model")
        dep.api_key = dep.manage("create_api_key", "chaos-client").strip().splitlines()[-1]
        dep.start_web()
        dep.start_beat()
        yield dep
    finally:
        dep.destroy()


@pytest.fixture
def workers(deployment):
    """Workers a test starts; all of them stopped at its end."""
    started = []

    def start(name: str, concurrency: int = 2):
        service = deployment.start_worker(name, concurrency=concurrency)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def make_items(prefix: str, *, seed: int, days: int = 1) -> list[dict]:
    """API payload items for the history's accounts over the last ``days`` days (seeded; the
    generator's own fraud episodes included, so some open cases)."""
    from scoring.engine.synthetic import LABEL_FIELDS, generate_history

    frame = generate_history(n_accounts=150, days=days, end=datetime.now(UTC), seed=seed)
    items = []
    for row in frame.to_dict("records"):
        item = {}
        for key, value in row.items():
            if key in LABEL_FIELDS or value is None:
                continue
            if isinstance(value, float) and math.isnan(value):
                continue
            item[key] = value
        item["external_id"] = f"{prefix}-{row['external_id']}"
        item["amount"] = f"{row['amount']:.2f}"
        item["occurred_at"] = row["occurred_at"].isoformat()
        items.append(item)
    return items


@pytest.fixture
def record():
    """``record(fault, sent=, accepted=, scored=, lost=, duplicated=, **notes)``."""

    def write(fault: str, **figures):
        entry = {"fault": fault, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        entry.update(figures)
        _recorded.append(entry)
        print(f"\nCHAOS {json.dumps(entry)}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        previous[fault] = entry
        RESULTS.write_text(json.dumps(previous, indent=2) + "\n")

    return write


def pytest_terminal_summary(terminalreporter):
    if not _recorded:
        return
    terminalreporter.section("chaos results")
    columns = ("sent", "accepted", "scored", "lost", "duplicated")
    terminalreporter.write_line(f"{'fault':<46}" + "".join(f"{c:>11}" for c in columns))
    for entry in _recorded:
        terminalreporter.write_line(
            f"{entry['fault']:<46}" + "".join(f"{entry.get(c, '-')!s:>11}" for c in columns)
        )
    terminalreporter.write_line(f"(written to {RESULTS})")
