"""Cost per scored transaction as the history grows (issue 11: flat from 100k to 1M rows).

For each size in ``BENCH_GROWTH_SIZES`` (default ``100000,1000000`` rows of history), on the
configured PostgreSQL (skipped otherwise): the transactions table is emptied, loaded with that
much history of the benchmarks' population (``bench/population.py``: about 120 rows per account
whatever the size) plus ``BENCH_GROWTH_BATCHES + 1`` batches of 1,000 pending transactions at
its end, and vacuumed as autovacuum would have; then the worker's own service
(``transactions_score``, in this process: no broker, no HTTP) scores the batches one after the
other, the first as a warm-up. One champion, trained once, scores every size.

Reported per size: the history rows a batch reads, queries per batch, CPU (this process) and
wall time per batch (medians), and the ``EXPLAIN (ANALYZE, BUFFERS)`` of one batch's history
query (run just before that batch is scored). A flat cost means the same rows read and about
the same time at every size. The plan may differ: on a small table a batch's accounts are most
of the table, and PostgreSQL reads the look-back window through the BRIN index instead of the
accounts' entries of ``txn_account_history``, or (at 60,000 rows) scans the table. The one
assertion is about the outcome (every transaction scored), never about time. Written to
``bench/results/<UTC time>-history-growth.json``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.population import champion_register, population
from scoring import selectors
from scoring.management.commands.generate_transactions import frame_to_items
from scoring.models import Transaction
from scoring.services.ingest import transactions_store
from scoring.services.scoring import transactions_score

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [int(s) for s in os.environ.get("BENCH_GROWTH_SIZES", "100000,1000000").split(",")]
BATCHES = int(os.environ.get("BENCH_GROWTH_BATCHES", 10))
BATCH = 1000
TRAIN_ROWS = int(os.environ.get("BENCH_TRAIN_ROWS", 40_000))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="runs on PostgreSQL only (set DATABASE_URL)",
    ),
]


def _load(size: int) -> list[list[int]]:
    """An emptied table with ``size`` rows of history and the pending batches; their ids."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Transaction._meta.db_table} CASCADE")
    history, posted = population(history=size, posted=BATCH * (BATCHES + 1), seed=5)
    for start in range(0, len(history), 5000):
        transactions_store(
            items=frame_to_items(history.iloc[start : start + 5000]),
            source=Transaction.Source.SYNTHETIC,
            mode="history",
        )
    items = [
        {k: v for k, v in item.items() if k not in ("is_fraud", "fraud_pattern")}
        for item in frame_to_items(posted)
    ]
    ids = transactions_store(items=items, source=Transaction.Source.API, mode="sync").ids
    with connection.cursor() as cursor:  # as autovacuum would have (docs/performance.md)
        cursor.execute(f"VACUUM ANALYZE {Transaction._meta.db_table}")
    order = dict(Transaction.objects.filter(pk__in=ids).values_list("pk", "occurred_at").iterator())
    ids = sorted(ids, key=lambda pk: (order[pk], pk))
    return [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]


def _history_explain(batch_ids: list[int], monkeypatch) -> tuple[int, list[str]]:
    """(rows the batch's history query returns, its EXPLAIN ANALYZE) — the service's query."""
    rows = list(
        Transaction.objects.filter(pk__in=batch_ids).values_list(
            "account_id", "counterparty_id", "occurred_at"
        )
    )
    captured = {}
    fetch = selectors.fetch_rows_binary

    def capture(queryset):
        captured["sql"] = queryset.query.sql_with_params()
        return fetch(queryset)

    with monkeypatch.context() as patch:
        patch.setattr(selectors, "fetch_rows_binary", capture)
        frame = selectors.history_frame(
            account_ids=[r[0] for r in rows],
            counterparty_ids=[r[1] for r in rows],
            start=min(r[2] for r in rows),
            end=max(r[2] for r in rows),
            metadata=False,
        )
    sql, params = captured["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [line for (line,) in cursor.fetchall()]
    # The id arrays make the plan unreadable: shown as {…}.
    return len(frame), [re.sub(r"'\{[^}]*\}'", "'{…}'", line) for line in plan]


_SCAN = re.compile(r"(\w+(?: \w+)*? Scan)(?: using (\w+))? on (\w+)")


def _scans(plan: list[str]) -> str:
    """The plan's scans with their index, e.g. ``Index Only Scan txn_account_history + …``."""
    found = []
    for line in plan:
        if match := _SCAN.search(line):
            kind, index, target = match.groups()
            found.append(f"{kind} {target if kind == 'Bitmap Index Scan' else index or ''}")
    return " + ".join(scan.strip() for scan in found)


def _execution_ms(plan: list[str]) -> float:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split(":")[1].split()[0])
    return float("nan")


def _measure(size: int, monkeypatch) -> dict:
    batches = _load(size)
    transactions_score(transaction_ids=batches[0])  # warm-up: caches, the model file
    history_rows, plan = _history_explain(batches[1], monkeypatch)
    cpu, wall, queries, scored = [], [], [], 0
    for batch in batches[1:]:
        started, started_cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as captured:
            outcome = transactions_score(transaction_ids=batch)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        queries.append(len(captured))
        scored += outcome.scored + outcome.failed
    wall_ms = statistics.median(wall)
    return {
        "history_rows": size,
        "table_rows": Transaction.objects.count(),
        "batches": len(batches) - 1,
        "scored_or_failed": scored,
        "history_rows_read_per_batch": history_rows,
        "queries_per_batch": statistics.median(queries),
        "cpu_ms_per_batch": round(statistics.median(cpu), 1),
        "wall_ms_per_batch": round(wall_ms, 1),
        "wall_ms_per_batch_range": [round(min(wall), 1), round(max(wall), 1)],
        "wall_us_per_transaction": round(wall_ms * 1000 / BATCH),
        "history_query_execution_ms": _execution_ms(plan),
        "history_query_scans": _scans(plan),
        "history_query_plan": plan,
    }


def _table(run: dict) -> str:
    lines = [
        f"History growth — {run['machine']} — {run['database']}; batches of {BATCH}",
        "| history rows | rows read per batch | queries per batch | CPU ms per batch | "
        "wall ms per batch (range) | µs per transaction | history query in PostgreSQL |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in run["sizes"]:
        low, high = r["wall_ms_per_batch_range"]
        lines.append(
            f"| {r['history_rows']:,} | {r['history_rows_read_per_batch']:,} | "
            f"{r['queries_per_batch']:g} | {r['cpu_ms_per_batch']} | "
            f"{r['wall_ms_per_batch']} ({low}–{high}) | {r['wall_us_per_transaction']} | "
            f"{r['history_query_execution_ms']} ms: {r['history_query_scans']} |"
        )
    for r in run["sizes"]:
        lines += [f"\nEXPLAIN of one batch's history query at {r['history_rows']:,} rows:"]
        lines += [f"    {line}" for line in r["history_query_plan"]]
    return "\n".join(lines)


def test_cost_per_transaction_as_history_grows(monkeypatch):
    run = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} · {os.cpu_count()} cores · {platform.platform()}",
        "database": connection.vendor,
        "sizes": [],
    }
    history, _ = population(history=TRAIN_ROWS, posted=0, seed=5)
    champion_register(history, train_rows=TRAIN_ROWS)
    for size in SIZES:
        run["sizes"].append(_measure(size, monkeypatch))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}-history-growth.json"
    path.write_text(json.dumps(run, indent=2) + "\n")
    print("\n" + _table(run) + f"\n(written to {path.relative_to(RESULTS.parent.parent)})")
    for r in run["sizes"]:
        assert r["scored_or_failed"] == r["batches"] * BATCH, r
