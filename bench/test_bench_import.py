"""CSV import speed and memory (``make bench``): ``import_transactions`` on the configured database.

Issue 11 wants the CSV import at 50,000 rows a second or more in constant memory. Two files are
imported, each into an empty table: the shared Sparkov sample (when ``../shared/data`` is there)
and a generated file of ``IMPORT_BENCH_ROWS`` rows (default 1,000,000) with the same layout. For
each the bench prints rows/s (wall and process CPU), the peak resident memory of the import
(the kernel's high-water mark, reset before each run) and the same-run floor: one ``INSERT …
SELECT`` of the stored rows into a copy of the table with the same indexes (PostgreSQL only).
Results go to ``bench/results/import-<date>.json``. Nothing here asserts a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.db import connection

from scoring.models import Transaction
from scoring.services.importer import transactions_import

ROOT = Path(__file__).resolve().parent.parent
SPARKOV = ROOT.parent / "shared" / "data" / "sparkov-cards.csv"
RESULTS = Path(__file__).resolve().parent / "results"
ROWS = int(os.environ.get("IMPORT_BENCH_ROWS", "1000000"))
MAPPING = [
    "account_id=cc_num",
    "external_id=trans_num",
    "amount=amt",
    "occurred_at=trans_date_trans_time",
    "merchant_id=merchant",
    "merchant_category=category",
    "latitude=merch_lat",
    "longitude=merch_long",
    "currency=:USD",
]
DROP = ("first", "last", "street", "city", "state", "zip", "dob", "job")


def generate(path: Path, rows: int, seed: int = 7) -> Path:
    """A Sparkov-shaped file: 1,000 cards, 700 merchants, 14 categories, ~0.7 % fraud."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00")
    seconds = np.sort(rng.integers(0, 540 * 86400, rows))
    with open(path, "w", newline="") as fh:
        for begin in range(0, rows, 200_000):
            n = min(200_000, rows - begin)
            frame = pd.DataFrame(
                {
                    "trans_date_trans_time": pd.to_datetime(
                        start + seconds[begin : begin + n].astype("timedelta64[s]")
                    ).strftime("%Y-%m-%d %H:%M:%S"),
                    "cc_num": rng.integers(10**15, 10**15 + 1000, n),
                    "merchant": [f"fraud_m{m}" for m in rng.integers(0, 700, n)],
                    "category": [f"cat_{c}" for c in rng.integers(0, 14, n)],
                    "amt": np.round(rng.lognormal(3.5, 1.2, n) + 0.01, 2),
                    "first": "Ann",
                    "last": "Example",
                    "gender": rng.choice(["M", "F"], n),
                    "lat": np.round(rng.uniform(25, 48, n), 4),
                    "long": np.round(rng.uniform(-120, -70, n), 4),
                    "city_pop": rng.integers(100, 3_000_000, n),
                    "trans_num": [f"{begin + i:032x}" for i in range(n)],
                    "merch_lat": np.round(rng.uniform(25, 48, n), 6),
                    "merch_long": np.round(rng.uniform(-120, -70, n), 6),
                    "is_fraud": (rng.random(n) < 0.007).astype(int),
                }
            )
            frame.to_csv(fh, index=False, header=begin == 0)
    return path


def _peak_rss_mb() -> float:
    """The process's resident high-water mark since the last reset (Linux), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # resets VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")


def _insert_floor() -> float | None:
    """Seconds for one INSERT … SELECT of the stored rows into a same-indexed copy (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_copy (LIKE scoring_transaction INCLUDING ALL)")
        started = time.perf_counter()
        cursor.execute("INSERT INTO bench_copy SELECT * FROM scoring_transaction")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    return seconds


def _run(path: Path, label: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Transaction._meta.db_table}")
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    _reset_peak()
    before = _peak_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    result = transactions_import(
        path=path,
        mapping=MAPPING,
        label_column="is_fraud",
        timezone="UTC",
        time_format="%Y-%m-%d %H:%M:%S",
        drop=tuple(c for c in DROP if c in header),
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    floor = _insert_floor()
    figures = {
        "file": label,
        "rows": result.rows,
        "imported": result.imported,
        "seconds": round(wall, 2),
        "rows_per_s": round(result.rows / wall),
        "cpu_seconds": round(cpu, 2),
        "rows_per_cpu_s": round(result.rows / cpu),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "insert_floor_rows_per_s": round(result.rows / floor) if floor else None,
    }
    print(
        f"\n{label}: {result.rows:,} rows in {wall:.1f} s = {figures['rows_per_s']:,} rows/s "
        f"({figures['rows_per_cpu_s']:,} per CPU-second of the importer); peak RSS "
        f"{figures['peak_rss_mb']:.0f} MB (before {before:.0f} MB); same-run INSERT…SELECT "
        f"floor {figures['insert_floor_rows_per_s'] or 'n/a'} rows/s"
    )
    assert result.imported == result.rows
    return figures


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_import_speed_and_memory(tmp_path):
    runs = []
    if SPARKOV.is_file():
        runs.append(_run(SPARKOV, "sparkov-cards.csv"))
    runs.append(_run(generate(tmp_path / "generated.csv", ROWS), f"generated {ROWS:,} rows"))
    RESULTS.mkdir(exist_ok=True)
    report = {
        "bench": "import",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "runs": runs,
    }
    out = RESULTS / f"import-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")
