"""The batch path end to end, against its own same-run floors (issue 11; ``make bench``).

Real processes on the configured PostgreSQL and Redis (``DATABASE_URL``, ``CELERY_BROKER_URL``;
skipped otherwise): gunicorn with ``BENCH_WEB_WORKERS`` (2) workers, ``BENCH_CELERY_PROCS`` (1)
``celery worker`` processes with ``--concurrency BENCH_CONCURRENCY`` (2), and the load from
``BENCH_CLIENTS`` (4) separate client processes (``bench/loadgen.py``) posting batches of
``BENCH_BATCH`` (1,000) over HTTP. Sizes:

| env | default (a few minutes) | full (issue 11) |
|---|---|---|
| ``BENCH_HISTORY`` | 50,000 rows of account history | 1,000,000 |
| ``BENCH_TRANSACTIONS`` | 20,000 posted | 200,000 |
| ``BENCH_SCORE_REQUESTS`` | 200 sequential ``POST /score`` | 1,000 |
| ``BENCH_SCORE_AGAIN_QUIET`` | 0: off (else seconds, see below) | 0 |

With ``BENCH_SCORE_AGAIN_QUIET`` seconds, the ``/score`` requests are sent a second time once no
autovacuum worker runs (waiting at most that long) and after a ``CHECKPOINT``: the burst's
after-effects told apart from the size of the history.

One table is printed (run with ``-s``) and the figures are written to
``bench/results/<UTC time>-pipeline.json`` (git-ignored; ``bench/results/example-*.json`` is the
committed example). No assertion on time: a benchmark reports, it does not pass or fail on speed.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bench.population import END, champion_register, population
from fraudcases.celery import app
from scoring.bulk import _copy_in
from scoring.engine.features import compute_features
from scoring.engine.ml import predict_proba
from scoring.management.commands.generate_transactions import frame_to_items
from scoring.models import Transaction, WorkerHeartbeat
from scoring.services.apikeys import api_key_create
from scoring.services.ingest import transactions_store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HISTORY = int(os.environ.get("BENCH_HISTORY", 50_000))
POSTED = int(os.environ.get("BENCH_TRANSACTIONS", 20_000))
BATCH = int(os.environ.get("BENCH_BATCH", 1000))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 4))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", 2))
CELERY_PROCS = int(os.environ.get("BENCH_CELERY_PROCS", 1))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 2))
SCORE_REQUESTS = int(os.environ.get("BENCH_SCORE_REQUESTS", 200))
SCORE_PATH = "/api/v1/transactions/score"
# Seconds to wait at most for autovacuum to finish (then a CHECKPOINT) before sending the /score
# requests a second time; 0: once only.
SCORE_AGAIN_QUIET = float(os.environ.get("BENCH_SCORE_AGAIN_QUIET", 0))
TRAIN_ROWS = int(os.environ.get("BENCH_TRAIN_ROWS", 40_000))
SCORING_TIMEOUT = float(os.environ.get("BENCH_SCORING_TIMEOUT", 1800))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres")
        or not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"),
        reason="runs on PostgreSQL + Redis only (set DATABASE_URL and CELERY_BROKER_URL)",
    ),
]


def _database_url() -> str:
    db = connection.settings_dict
    auth = f"{db['USER']}@" if db.get("USER") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(queue: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_QUEUE": queue,
        "MODEL_STORE_DIR": str(settings.MODEL_STORE_DIR),
        "FRAUDCASES_VAR_DIR": str(settings.VAR_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process of this machine: ``pid -> (name, parent, CPU ticks)``, the ticks being
    user + system time plus what the process's reaped children used (``/proc/<pid>/stat``)."""
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # fields[1] is the parent; [11:15] utime, stime, cutime, cstime (proc(5), from field 3)
        procs[int(stat.parent.name)] = (comm, int(fields[1]), sum(map(int, fields[11:15])))
    return procs


def _family(roots: set[int], procs: dict[int, tuple[str, int, int]]) -> set[int]:
    """``roots`` and their children (a web server's workers, a Celery worker's pool)."""
    return roots | {pid for pid, (_, parent, _) in procs.items() if parent in roots}


def _memory_mb(pid: int, procs: dict[int, tuple[str, int, int]]) -> tuple[float, float]:
    """(RSS, PSS) of a process and its children (MB), from /proc.

    The RSS sum counts every page the prefork pool's children still share with their parent
    (the imported code: ~200 MB of Django, pandas and scikit-learn) once per process; PSS
    (``smaps_rollup``) charges a shared page to its sharers in equal parts, so the PSS sum is
    what the worker really holds.
    """
    rss = pss = 0
    for p in _family({pid}, procs):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return rss / 1024, pss / 1024


def _cpu_by_role(*, web: int, workers: list[int]) -> dict[str, float]:
    """CPU seconds used so far, by role (:func:`_processes`, so exited PostgreSQL backends and
    load generators are counted by the parent that reaped them): the web server and its
    workers, the Celery workers and their pools, PostgreSQL (its live backends on this database,
    and the rest), Redis, and this process with the load generators it started."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = _processes()
    roles = {
        "web": _family({web}, procs),
        "worker": _family(set(workers), procs),
        "benchmark": {os.getpid()},
    }
    out = {role: sum(procs[p][2] for p in ps if p in procs) / tick for role, ps in roles.items()}
    # PostgreSQL's backends serving this database (the web's, the workers', this process's),
    # and the rest of it: autovacuum, the WAL writer, the checkpointer, exited backends.
    database = f" {connection.settings_dict['NAME']} "
    backends = set()
    for pid, (comm, _, _) in procs.items():
        if comm == "postgres":
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if database in title:
                backends.add(pid)
    every = sum(t for pid, (comm, _, t) in procs.items() if comm == "postgres")
    out["postgresql"] = sum(procs[p][2] for p in backends) / tick
    out["postgresql_other"] = every / tick - out["postgresql"]
    out["redis"] = sum(t for comm, _, t in procs.values() if comm.startswith("redis")) / tick
    return out


class _MemoryWatch:
    """The largest (RSS, PSS) summed over every worker process and its pool (MB), sampled at
    most once a second (reading ``smaps_rollup`` walks a process's page tables: CPU taken from
    what is measured)."""

    def __init__(self, workers):
        self.workers, self.rss, self.pss, self.last = workers, 0.0, 0.0, 0.0

    def sample(self) -> None:
        if time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        procs = _processes()
        sizes = [_memory_mb(w.pid, procs) for w in self.workers]
        self.rss = max(self.rss, sum(r for r, _ in sizes))
        self.pss = max(self.pss, sum(p for _, p in sizes))


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 90, 99)} | {
        "max": round(float(arr.max()), 1)
    }


def _predict_floor(artifact, history, posted) -> float:
    """The champion's own batch predict rate on the posted rows' features (rows/s)."""
    frame = history.tail(20_000)._append(posted).reset_index(drop=True)
    frame.insert(0, "id", range(1, len(frame) + 1))
    features = compute_features(frame, artifact=artifact).tail(len(posted))
    started = time.perf_counter()
    predict_proba(artifact, features)
    return len(features) / (time.perf_counter() - started)


def _copy_floor(items: list[dict]) -> float:
    """COPY of the same rows into a scratch copy of the transactions table (its indexes
    included), rows/s: what PostgreSQL itself takes on this machine."""
    now = datetime.now(UTC)
    stamp = {"source": "api", "status": "pending", "created_at": now, "enqueued_at": now}
    fields = [f for f in Transaction._meta.concrete_fields if not f.primary_key]
    columns = [
        [item.get(f.name, stamp.get(f.name, f.get_default())) for item in items] for f in fields
    ]
    table = f"_bench_copy_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {table} (LIKE scoring_transaction INCLUDING ALL, "
            f"_bulk_ordinal integer)"
        )
    started = time.perf_counter()
    _copy_in(table, fields, columns)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    return len(items) / seconds


def _noop_round_trip(queue: str) -> dict[str, float]:
    """``celery.ping`` (Celery's built-in no-op) through the broker and the worker: time from
    sending until the worker has acknowledged it (acks_late: the message leaves Redis's unacked
    set only after it ran), sequential, 50 times."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        app.send_task("celery.ping", queue=queue)
        deadline = started + 30
        time.sleep(0.0005)
        while client.llen(queue) or client.hlen("unacked"):
            if time.perf_counter() > deadline:
                break
            time.sleep(0.0005)
        timings.append(time.perf_counter() - started)
    return _percentiles(timings)


def _queries_per_request(key: str, sample_items: list[dict], score_item: dict) -> dict[str, int]:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    counts = {}
    with CaptureQueriesContext(connection) as queries:
        api.post(
            "/api/v1/transactions",
            data=orjson.dumps({"transactions": sample_items}),
            content_type="application/json",
        )
    counts[f"POST /transactions ({len(sample_items)} items)"] = len(queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        api.post(
            "/api/v1/transactions/score",
            data=orjson.dumps(score_item),
            content_type="application/json",
        )
    counts["POST /transactions/score"] = len(queries.captured_queries)
    return counts


@contextmanager
def _autovacuum_watch(every: float = 0.25):
    """What autovacuum did while the block ran: the share of samples (every ``every`` s) in
    which an autovacuum worker was busy, and on what. After a burst of 200,000 scored rows it
    vacuums the transactions table, and a sequential ``/score`` shares the machine with it."""
    seen: dict = {"samples": 0, "busy": 0, "what": []}
    stop = threading.Event()

    def watch():
        if connection.vendor != "postgresql":
            return
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT query FROM pg_stat_activity WHERE backend_type = "
                        "'autovacuum worker'"
                    )
                    busy = [row[0] for row in cursor.fetchall()]
                seen["samples"] += 1
                seen["busy"] += bool(busy)
                seen["what"] = sorted(set(seen["what"]) | set(busy))
                stop.wait(every)
        finally:
            connection.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)
        seen["busy_share"] = round(seen["busy"] / max(seen["samples"], 1), 2)


def _wait_quiet(limit: float) -> float:
    """Wait until no autovacuum worker runs (at most ``limit`` seconds), then checkpoint, so
    nothing the burst left behind is still at work; returns the seconds waited."""
    started = time.monotonic()
    with connection.cursor() as cursor:
        while time.monotonic() - started < limit:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(1)
        cursor.execute("CHECKPOINT")
    return round(time.monotonic() - started, 1)


def _table_blocks() -> dict[str, int]:
    """Blocks of the transactions table and its indexes PostgreSQL has found in its shared
    buffers (hit) or had to read (read) so far (``pg_statio_user_tables``; counters are sent by
    the backends at the end of each transaction, so a sample may lag by one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT heap_blks_hit, heap_blks_read, idx_blks_hit, idx_blks_read "
            "FROM pg_statio_user_tables WHERE relname = %s",
            [Transaction._meta.db_table],
        )
        row = cursor.fetchone() or (0, 0, 0, 0)
    return dict(zip(("heap_hit", "heap_read", "index_hit", "index_read"), row, strict=True))


def _server_seconds(access_log: Path, path: str) -> list[float]:
    """Gunicorn's own time (seconds) of each answered request to ``path``, from its access log
    (``%(m)s %(U)s %(s)s %(D)s``: method, path, status, microseconds)."""
    seconds = []
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1] == path:
            seconds.append(int(parts[3]) / 1e6)
    return seconds


def _wait_http(url: str, process, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")


def test_pipeline(tmp_path):
    run = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} · {os.cpu_count()} cores · {platform.platform()}",
        "database": connection.vendor,
        "sizes": {
            "history": HISTORY,
            "posted": POSTED,
            "batch": BATCH,
            "clients": CLIENTS,
            "web_workers": WEB_WORKERS,
            "celery_processes": CELERY_PROCS,
            "celery_concurrency": CONCURRENCY,
        },
    }
    history, posted = population(history=HISTORY, posted=POSTED)
    started = time.perf_counter()
    for start in range(0, len(history), 5000):
        transactions_store(
            items=frame_to_items(history.iloc[start : start + 5000]),
            source=Transaction.Source.SYNTHETIC,
            mode="history",
        )
    run["history_store_rows_per_s"] = round(len(history) / (time.perf_counter() - started))
    # A table that has been live for a while has been vacuumed by autovacuum: its visibility map
    # is current, so the history query is an index-only scan (docs/performance.md). A table
    # loaded a second ago has not; vacuum it as autovacuum would have.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE scoring_transaction")
    artifact = champion_register(history, train_rows=TRAIN_ROWS)
    _, key = api_key_create(name="bench")

    items = [
        {k: v for k, v in item.items() if k not in ("is_fraud", "fraud_pattern")}
        for item in frame_to_items(posted)
    ]
    for item in items:
        item["amount"] = str(item["amount"])
        item["occurred_at"] = item["occurred_at"].isoformat()
    floors = {
        "model_predict_rows_per_s": round(_predict_floor(artifact, history, posted)),
        "copy_rows_per_s": round(
            _copy_floor(frame_to_items(posted.assign(external_id=posted["external_id"] + "c")))
        ),
    }

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = _env(queue)
    port = _free_port()
    processes = []
    web_log = tmp_path / "web.log"
    access_log = tmp_path / "access.log"
    web = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "fraudcases.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS), "--threads", "1",
            "--timeout", "120",
            # Server time of each request, in microseconds, as gunicorn measures it.
            "--access-logfile", str(access_log), "--access-logformat", "%(m)s %(U)s %(s)s %(D)s",
        ],
        cwd=ROOT, env=env, stdout=web_log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes.append(web)
    workers = []
    for n in range(CELERY_PROCS):
        log = tmp_path / f"worker-{n}.log"
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "fraudcases",
                    "worker",
                    "-Q",
                    queue,
                    "--hostname",
                    f"bench-{n}-{queue}@localhost",
                    "--concurrency",
                    str(CONCURRENCY),
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    processes += workers
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", web, web_log)
        deadline = time.monotonic() + 60
        while WorkerHeartbeat.objects.filter(hostname__contains=queue).count() < CELERY_PROCS:
            assert time.monotonic() < deadline, "celery workers did not start"
            time.sleep(0.3)
        floors["celery_noop_round_trip_ms"] = _noop_round_trip(queue)

        bodies = []
        for n, start in enumerate(range(0, len(items), BATCH)):
            path = tmp_path / f"body-{n}.json"
            path.write_bytes(orjson.dumps({"transactions": items[start : start + BATCH]}))
            bodies.append(path)
        cpu_before = _cpu_by_role(web=web.pid, workers=[w.pid for w in workers])
        clients = []
        for c in range(CLIENTS):
            out = tmp_path / f"client-{c}.json"
            mine = [str(b) for b in bodies[c::CLIENTS]]
            clients.append(
                (
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(ROOT / "bench" / "loadgen.py"),
                            "127.0.0.1",
                            str(port),
                            "/api/v1/transactions",
                            key,
                            str(out),
                            *mine,
                        ]
                    ),
                    out,
                )
            )
        memory = _MemoryWatch(workers)
        for process, _ in clients:
            while process.poll() is None:
                memory.sample()
                time.sleep(0.2)
            assert process.returncode == 0
        timings = [t for _, out in clients for t in json.loads(out.read_text())]
        bad = [t for t in timings if t["status"] != 202]
        assert not bad, bad[:3]
        first_post = min(t["start"] for t in timings)
        last_post = max(t["end"] for t in timings)
        external_ids = [i["external_id"] for i in items]
        rows = Transaction.objects.filter(external_id__in=external_ids)
        deadline = time.monotonic() + SCORING_TIMEOUT
        # The posted rows are the only pending ones (the history is stored as history): the
        # partial index of pending rows answers. Polling with the 200,000 external ids in an
        # IN list cost this process and PostgreSQL ~0.5 s of CPU per poll.
        pending = Transaction.objects.filter(status=Transaction.Status.PENDING)
        while pending.exists():
            assert time.monotonic() < deadline, "scoring did not finish in time"
            memory.sample()
            time.sleep(0.2)
        done = time.time()
        cpu_after = _cpu_by_role(web=web.pid, workers=[w.pid for w in workers])
        scored = rows.filter(status=Transaction.Status.SCORED)
        last_scored = scored.order_by("-scored_at").values_list("scored_at", flat=True).first()
        # Scoring can start once the first batch is stored (its POST answered).
        scoring_seconds = last_scored.timestamp() - min(t["end"] for t in timings)
        ingest_rate = len(items) / (last_post - first_post)
        n_scored = scored.count()
        stages = {
            "ingest_tx_per_s": round(ingest_rate),
            "ingest_tx_per_s_per_web_worker": round(ingest_rate / WEB_WORKERS),
            "scoring_tx_per_s": round(n_scored / scoring_seconds),
            "end_to_end_tx_per_s": round(n_scored / (last_scored.timestamp() - first_post)),
            "end_to_end_seconds": round(last_scored.timestamp() - first_post, 1),
            "scored": n_scored,
            "failed": rows.filter(status=Transaction.Status.FAILED).count(),
            "post_batch_latency_ms": _percentiles([t["end"] - t["start"] for t in timings]),
            "worker_rss_mb_max": round(memory.rss),
            "worker_pss_mb_max": round(memory.pss),
            "poll_overhead_s": round(done - last_scored.timestamp(), 1),
            # Where the machine's CPU went, per scored transaction (µs), first POST to done.
            "cpu_us_per_tx": {
                role: round((cpu_after[role] - cpu_before[role]) / max(n_scored, 1) * 1e6)
                for role in cpu_after
            },
            "cpu_busy_share": round(
                sum(cpu_after[r] - cpu_before[r] for r in cpu_after)
                / ((done - first_post) * (os.cpu_count() or 1)),
                2,
            ),
        }  # fmt: skip

        def score_phase(tag: str, end: datetime) -> dict:
            """SCORE_REQUESTS sequential POST /score of fresh transactions, in time order, in
            the seconds before ``end``."""
            bodies = []
            for i in range(SCORE_REQUESTS):
                fresh = f"bench-{tag}-{uuid.uuid4().hex[:10]}"
                item = dict(items[i % len(items)], external_id=fresh)
                item["occurred_at"] = (end - timedelta(seconds=SCORE_REQUESTS - i)).isoformat()
                path = tmp_path / f"{tag}-{i}.json"
                path.write_bytes(orjson.dumps(item))
                bodies.append(str(path))
            out = tmp_path / f"{tag}.json"
            answered_before = len(_server_seconds(access_log, SCORE_PATH))
            blocks_before = _table_blocks()
            with _autovacuum_watch() as autovacuum:
                subprocess.run(
                    [
                        sys.executable, str(ROOT / "bench" / "loadgen.py"), "127.0.0.1",
                        str(port), SCORE_PATH, key, str(out), *bodies,
                    ],
                    check=True,
                )  # fmt: skip
            blocks = {k: v - blocks_before[k] for k, v in _table_blocks().items()}
            timings = json.loads(out.read_text())
            answered = Transaction.objects.filter(external_id__startswith=f"bench-{tag}-")
            return {
                # A risky answer is explained and opens or joins a case: it costs more.
                "risk_levels": dict(Counter(answered.values_list("risk_level", flat=True))),
                "with_case": answered.filter(case_link__isnull=False).count(),
                "latency_ms": _percentiles([t["end"] - t["start"] for t in timings]),
                "failed": sum(1 for t in timings if t["status"] != 200),
                "server_ms": _percentiles(
                    _server_seconds(access_log, SCORE_PATH)[answered_before:]
                ),
                "during_autovacuum": autovacuum,
                # PostgreSQL's block reads of the transactions table and its indexes per
                # request: from its shared buffers (hit) or from outside them (read).
                "table_blocks_per_request": {
                    k: round(v / SCORE_REQUESTS, 1) for k, v in blocks.items()
                },
            }

        burst = score_phase("score", END)
        stages["score_during_autovacuum"] = burst["during_autovacuum"]
        stages["score_risk_levels"] = burst["risk_levels"]
        stages["score_with_case"] = burst["with_case"]
        stages["score_latency_ms"] = burst["latency_ms"]
        stages["score_failed"] = burst["failed"]
        stages["score_server_ms"] = burst["server_ms"]
        stages["score_table_blocks_per_request"] = burst["table_blocks_per_request"]
        if SCORE_AGAIN_QUIET:
            # The same requests once the machine is quiet: tells the burst's after-effects
            # (autovacuum, checkpoints, the OS's caches) from the size of the history. Two
            # days later, so the first ones are outside their hour and day windows.
            waited = _wait_quiet(SCORE_AGAIN_QUIET)
            quiet = score_phase("quiet", END + timedelta(days=2))
            stages["score_quiet"] = {**quiet, "waited_s": waited}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    try:  # in-process; a failure here must not lose the run's figures (they are written below)
        stages["queries_per_request"] = _queries_per_request(
            key,
            [dict(i, external_id=f"{i['external_id']}-q") for i in items[:BATCH]],
            dict(items[0], external_id=f"bench-q-{uuid.uuid4().hex[:8]}"),
        )
    except Exception as exc:  # noqa: BLE001 - reported in the results instead
        stages["queries_per_request"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    run["stages"] = stages
    run["floors"] = floors
    run["ratios"] = {
        "ingest_per_web_worker_vs_copy": round(
            stages["ingest_tx_per_s_per_web_worker"] / floors["copy_rows_per_s"], 3
        ),
        "scoring_vs_predict": round(
            stages["scoring_tx_per_s"] / floors["model_predict_rows_per_s"], 4
        ),
        "end_to_end_vs_copy": round(stages["end_to_end_tx_per_s"] / floors["copy_rows_per_s"], 3),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    result_path = RESULTS / f"{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}-pipeline.json"
    result_path.write_text(json.dumps(run, indent=2, default=str) + "\n")
    print("\n" + _table(run) + f"\n(written to {result_path.relative_to(ROOT)})")
    assert stages["scored"] + stages["failed"] == len(items)


def _table(run: dict) -> str:
    s, f, r = run["stages"], run["floors"], run["ratios"]
    noop = f["celery_noop_round_trip_ms"]
    lines = [
        f"Pipeline benchmark — {run['machine']} — {run['database']}; sizes {run['sizes']}",
        "| stage | measured | same-run floor | ratio |",
        "|---|---|---|---|",
        f"| ingest (POST → stored, 202) | {s['ingest_tx_per_s']:,} tx/s "
        f"({s['ingest_tx_per_s_per_web_worker']:,} per web worker); batch p50 "
        f"{s['post_batch_latency_ms'].get('p50')} ms, "
        f"p99 {s['post_batch_latency_ms'].get('p99')} ms"
        f" | PostgreSQL COPY of the same rows {f['copy_rows_per_s']:,} rows/s | "
        f"{r['ingest_per_web_worker_vs_copy']:.1%} per worker |",
        f"| scoring (pending → scored) | {s['scoring_tx_per_s']:,} tx/s | model batch predict "
        f"{f['model_predict_rows_per_s']:,} rows/s | {r['scoring_vs_predict']:.2%} |",
        f"| end to end (first POST → last scored) | {s['end_to_end_tx_per_s']:,} tx/s "
        f"({s['scored']:,} in {s['end_to_end_seconds']} s; {s['failed']} failed) | COPY "
        f"{f['copy_rows_per_s']:,} rows/s | {r['end_to_end_vs_copy']:.1%} |",
        f"| POST /score (sequential, after the batch) | p50 {s['score_latency_ms'].get('p50')} ms, "
        f"p90 {s['score_latency_ms'].get('p90')} ms, p99 {s['score_latency_ms'].get('p99')} ms; "
        f"{s['score_failed']} failed; server time p50 {s['score_server_ms'].get('p50')} ms, "
        f"p99 {s['score_server_ms'].get('p99')} ms; autovacuum busy in "
        f"{s['score_during_autovacuum'].get('busy_share', 0):.0%} of the time; table blocks "
        f"per request {s.get('score_table_blocks_per_request')} | no-op Celery "
        "round trip p50 "
        f"{noop.get('p50')} ms, p99 {noop.get('p99')} ms | |",
        *(
            [
                f"| POST /score again, once quiet (waited {q['waited_s']} s) | p50 "
                f"{q['latency_ms'].get('p50')} ms, p99 {q['latency_ms'].get('p99')} ms; "
                f"{q['failed']} failed; server time p50 {q['server_ms'].get('p50')} ms, p99 "
                f"{q['server_ms'].get('p99')} ms; autovacuum busy in "
                f"{q['during_autovacuum'].get('busy_share', 0):.0%} of the time; risk levels "
                f"{q['risk_levels']} (after the batch: {s['score_risk_levels']}); table "
                f"blocks per request {q['table_blocks_per_request']} | | |"
            ]
            if (q := s.get("score_quiet"))
            else []
        ),
        f"| CPU per transaction, first POST → last scored (µs) | {_cpu_text(s)} | "
        f"{os.cpu_count()} cores ÷ the total: {_cpu_bound(s):,} tx/s | |",
        f"| queries per request | {s['queries_per_request']} | | |",
        f"| worker memory (max, all worker processes) | RSS {s['worker_rss_mb_max']} MB, "
        f"PSS {s['worker_pss_mb_max']} MB | | |",
    ]
    return "\n".join(lines)


def _cpu_text(s: dict) -> str:
    cpu = s.get("cpu_us_per_tx", {})
    parts = [f"{role} {us:,}" for role, us in cpu.items()]
    return f"{', '.join(parts)}; total {sum(cpu.values()):,} (cores busy {s['cpu_busy_share']:.0%})"


def _cpu_bound(s: dict) -> int:
    total = sum(s.get("cpu_us_per_tx", {}).values())
    return round((os.cpu_count() or 1) * 1e6 / total) if total else 0


if __name__ == "__main__":  # pragma: no cover - run through pytest (make bench)
    raise SystemExit(pytest.main([__file__, "-s", "-p", "no:cacheprovider"]))
