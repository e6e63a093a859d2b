"""Real consumer processes (``manage.py consume_stream``) on the real local Redis, sharing the test
database (a SQLite file, or PostgreSQL when ``DATABASE_URL`` names it) with this test.

To catch a consumer between reading a batch and committing it, the test holds the database's
write lock on the transaction table (SQLite: an IMMEDIATE transaction; PostgreSQL: LOCK TABLE):
the consumer has the batch in hand (it is pending in the group) and waits for the lock.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from fraudcases.celery import app
from scoring.models import Transaction
from tests.helpers import api_items, database_url, load_history, running_worker, split_history

from .helpers import dead_letters, pending_count, publish, transaction_item

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def consumer_process(redis_url: str, stream: str, name: str, log_path: Path, *, batch: int):
    """A ``consume_stream`` subprocess; killed on exit if still running."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test",
        "DATABASE_URL": database_url(),
        "STREAM_REDIS_URL": redis_url,
        "CELERY_QUEUE": app.conf.task_default_queue,
        "MODEL_STORE_DIR": str(settings.MODEL_STORE_DIR),
        "FRAUDCASES_VAR_DIR": str(settings.VAR_DIR),
    }
    if settings.CELERY_BROKER_URL:
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    log = open(log_path, "w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [
            sys.executable, "manage.py", "consume_stream", "--stream", stream,
            "--group", "fraudcases", "--consumer", name, "--batch", str(batch),
            "--block-ms", "200", "--claim-min-idle-ms", "1000",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
        log.close()


def output(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def wait_for(condition, process, log, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached (exit {process.poll()}); log:\n{output(log)[-4000:]}")
        time.sleep(0.2)


@contextmanager
def transaction_table_locked():
    """Hold the write lock on the transaction table until the block ends (nothing written)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("LOCK TABLE scoring_transaction IN SHARE ROW EXCLUSIVE MODE")
        else:  # SQLite: the atomic block began with BEGIN IMMEDIATE; make sure it holds it
            cursor.execute("UPDATE scoring_transaction SET id = id WHERE 1 = 0")
        yield


def stored_ids() -> list[str]:
    return list(Transaction.objects.values_list("external_id", flat=True))


def test_a_consumer_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    redis_url, redis_conn, stream, tmp_path
):
    first = [transaction_item(n) for n in range(6)]
    second = [transaction_item(n) for n in range(6, 12)]
    third = [transaction_item(n) for n in range(12, 18)]

    with consumer_process(redis_url, stream, "doomed", tmp_path / "a.log", batch=6) as (a, log_a):
        publish(redis_conn, stream, first)
        wait_for(lambda: len(stored_ids()) == 6, a, log_a, "first batch stored by A")
        wait_for(lambda: pending_count(redis_conn, stream) == 0, a, log_a, "first batch acked")
        with transaction_table_locked():
            publish(redis_conn, stream, second)
            # A holds the second batch (pending with A) and waits for the database.
            wait_for(lambda: pending_count(redis_conn, stream) == 6, a, log_a, "A reads batch 2")
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=20)
        holders = redis_conn.xpending_range(stream, "fraudcases", "-", "+", 100)
        assert {row["consumer"] for row in holders} == {b"doomed"}
        assert len(stored_ids()) == 6  # A died before its commit

    publish(redis_conn, stream, third)
    with consumer_process(redis_url, stream, "heir", tmp_path / "b.log", batch=6) as (b, log_b):
        wait_for(lambda: len(stored_ids()) == 18, b, log_b, "B stores batches 2 and 3")
        wait_for(lambda: pending_count(redis_conn, stream) == 0, b, log_b, "B acks everything")
        b.send_signal(signal.SIGTERM)
        assert b.wait(timeout=30) == 0, output(log_b)
        log_text = output(log_b)

    expected = {i["external_id"] for i in first + second + third}
    ids = stored_ids()
    assert sorted(ids) == sorted(expected)  # each exactly once: nothing lost, nothing twice
    assert set(Transaction.objects.values_list("source", flat=True)) == {"stream"}
    # B took A's batch over (claimed) and stored it as new rows: A had committed nothing.
    assert "Stopped. 12 messages: 12 stored, 0 duplicates, 0 dead-lettered." in log_text
    assert dead_letters(redis_conn, stream) == []


def test_sigterm_lets_the_batch_in_hand_finish_then_exits(redis_url, redis_conn, stream, tmp_path):
    items = [transaction_item(n) for n in range(8)]
    with consumer_process(redis_url, stream, "polite", tmp_path / "c.log", batch=5) as (c, log):
        wait_for(lambda: "Consuming" in output(log), c, log, "consumer started")
        with transaction_table_locked():
            publish(redis_conn, stream, items)
            wait_for(lambda: pending_count(redis_conn, stream) == 5, c, log, "batch in hand")
            c.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert c.poll() is None  # still finishing its batch: waits for the database
        assert c.wait(timeout=60) == 0, output(log)
        log_text = output(log)

    # The batch in hand was stored and acknowledged; the rest was left for the next consumer.
    assert len(stored_ids()) == 5
    assert pending_count(redis_conn, stream) == 0
    (group,) = redis_conn.xinfo_groups(stream)
    assert group["lag"] == 3
    assert "Stopped. 5 messages: 5 stored, 0 duplicates, 0 dead-lettered." in log_text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def own_redis(port: int):
    """A throwaway redis-server (no persistence) of this test's own; never the shared one."""
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {port} did not start")
            time.sleep(0.1)
    try:
        yield server, client
    finally:
        client.close()
        if server.poll() is None:
            server.kill()
        server.wait(timeout=20)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
def test_a_redis_restart_is_waited_for_and_the_group_recreated(stream, tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with consumer_process(url, stream, "patient", tmp_path / "d.log", batch=10) as (c, log):
        with own_redis(port) as (_, client):
            publish(client, stream, [transaction_item(n) for n in range(3)])
            wait_for(lambda: len(stored_ids()) == 3, c, log, "stored before the outage")
            wait_for(lambda: pending_count(client, stream) == 0, c, log, "acknowledged")
        # Redis is down (killed, and it kept nothing): the consumer retries its reads.
        wait_for(lambda: "read failed (ConnectionError" in output(log), c, log, "retrying")
        with own_redis(port) as (_, client):
            publish(client, stream, [transaction_item(n) for n in range(3, 6)])
            wait_for(lambda: len(stored_ids()) == 6, c, log, "stored after the restart")
            wait_for(lambda: pending_count(client, stream) == 0, c, log, "acknowledged")
            c.send_signal(signal.SIGTERM)
            assert c.wait(timeout=30) == 0, output(log)
        assert "Stopped. 6 messages: 6 stored" in output(log)


def test_a_database_connection_killed_mid_batch_is_retried_without_acknowledging(
    redis_url, redis_conn, stream, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("kills the consumer's server-side connection: PostgreSQL only")
    items = [transaction_item(n) for n in range(5)]
    with consumer_process(redis_url, stream, "stubborn", tmp_path / "e.log", batch=5) as (c, log):
        wait_for(lambda: "Consuming" in output(log), c, log, "consumer started")
        with transaction_table_locked(), connection.cursor() as cursor:
            publish(redis_conn, stream, items)
            wait_for(lambda: pending_count(redis_conn, stream) == 5, c, log, "batch in hand")

            def waiting_backends() -> list[int]:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh, not this txn's view
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
                return [row[0] for row in cursor.fetchall()]

            wait_for(lambda: len(waiting_backends()) == 1, c, log, "consumer waits for the lock")
            (victim,) = waiting_backends()
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
            # The consumer saw its connection die, backs off, reconnects and waits again.
            wait_for(lambda: "store failed (OperationalError" in output(log), c, log, "retry")
            wait_for(lambda: len(waiting_backends()) == 1, c, log, "consumer waits again")
            assert pending_count(redis_conn, stream) == 5  # nothing acknowledged meanwhile
        wait_for(lambda: len(stored_ids()) == 5, c, log, "stored after the outage")
        wait_for(lambda: pending_count(redis_conn, stream) == 0, c, log, "acknowledged")
        c.send_signal(signal.SIGTERM)
        assert c.wait(timeout=30) == 0, output(log)
        assert "Stopped. 5 messages: 5 stored, 0 duplicates, 0 dead-lettered." in output(log)


def test_streamed_transactions_are_scored_by_the_worker_like_posted_ones(
    redis_url, redis_conn, stream, tmp_path, champion, synthetic_history
):
    older, recent = split_history(synthetic_history, days=1)
    load_history(older)
    items = api_items(recent)
    ids = {item["external_id"] for item in items}
    with (
        running_worker(tmp_path / "worker.log") as (worker, worker_log),
        consumer_process(redis_url, stream, "feeder", tmp_path / "f.log", batch=100) as (c, log),
    ):
        publish(redis_conn, stream, items)
        rows = Transaction.objects.filter(external_id__in=ids)
        wait_for(lambda: rows.count() == len(ids), c, log, "all stored", timeout=120)
        wait_for(lambda: rows.filter(status="scored").count() == len(ids), worker, worker_log,
                 "all scored", timeout=180)  # fmt: skip
    scored = rows.get(external_id=items[0]["external_id"])
    assert scored.source == "stream" and scored.risk_score is not None and scored.model_version
