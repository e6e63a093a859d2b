"""The Redis Streams consumer in this process against the real local Redis and the test database.

A "crash" is an exception that no handler catches (``Crash`` derives from BaseException, like
the KeyboardInterrupt of a killed process), raised at a chosen point: inside the database
transaction before it commits, or after the commit before the acknowledgement. Database outages
are injected as the ``OperationalError`` a lost connection raises. Killing real consumer
processes is in ``test_e2e_consumers.py``.
"""

from __future__ import annotations

import orjson
import pytest
from django.db import OperationalError, transaction

from core.metrics import metrics_exposition
from scoring.models import Transaction
from scoring.streams import consumer as consumer_module
from scoring.streams.consumer import StreamConsumer
from tests.helpers import sample

from .helpers import dead_letters, pending_count, publish, transaction_item

pytestmark = pytest.mark.django_db(transaction=True)


class Crash(BaseException):
    """The process dies here (nothing catches it)."""


def crash(**kwargs):
    raise Crash


def consumer_for(source, *, batch: int = 100, stop=None) -> StreamConsumer:
    return StreamConsumer(
        source=source,
        batch_size=batch,
        block_ms=100,
        max_deliveries=5,
        max_payload_bytes=64 * 1024,
        backoff_max_seconds=0.01,
        backlog_every_seconds=0,
        stop=stop,
    )


def test_a_batch_is_stored_through_ingest_and_acknowledged(redis_conn, stream, make_source):
    items = [transaction_item(n) for n in range(20)]
    publish(redis_conn, stream, items)

    outcome = consumer_for(make_source()).run_once()

    assert (outcome.consumed, outcome.stored, outcome.duplicates) == (20, 20, 0)
    assert outcome.dead_letters == []
    rows = Transaction.objects.filter(external_id__in=[i["external_id"] for i in items])
    assert rows.count() == 20
    assert set(rows.values_list("source", "status").distinct()) == {("stream", "pending")}
    row = rows.get(external_id="st-00003")
    assert (str(row.amount), row.currency, row.country) == ("13.25", "EUR", "DE")
    assert pending_count(redis_conn, stream) == 0
    assert dead_letters(redis_conn, stream) == []


def test_the_same_transactions_sent_again_are_duplicates_not_rows(redis_conn, stream, make_source):
    items = [transaction_item(n) for n in range(5)]
    consumer = consumer_for(make_source())
    publish(redis_conn, stream, items)
    consumer.run_once()
    # Again in a later batch, and twice within one batch (a producer retrying its send).
    publish(redis_conn, stream, items + items[:2])

    outcome = consumer.run_once()

    assert (outcome.stored, outcome.duplicates, outcome.dead_letters) == (0, 7, [])
    assert Transaction.objects.count() == 5
    assert pending_count(redis_conn, stream) == 0


def test_poison_messages_go_to_the_dead_letter_stream_and_the_rest_is_stored(
    redis_conn, stream, make_source
):
    bad_amount = orjson.dumps(transaction_item(101, amount="-5"))
    unknown_field = orjson.dumps(transaction_item(102, colour="red"))
    ids = publish(
        redis_conn,
        stream,
        [
            transaction_item(1),
            b'{"external_id": "st-x", "amount": ',  # cut off: undecodable
            bad_amount,
            transaction_item(2),
            b"[1, 2]",
            unknown_field,
            transaction_item(3),
        ],
    )
    no_data = redis_conn.xadd(stream, {"payload": b"{}", "trace": b"abc"}).decode()

    outcome = consumer_for(make_source()).run_once()

    assert (outcome.consumed, outcome.stored) == (8, 3)
    assert set(Transaction.objects.values_list("external_id", flat=True)) == {
        "st-00001",
        "st-00002",
        "st-00003",
    }
    letters = dead_letters(redis_conn, stream)
    assert [letter["source_id"].decode() for letter in letters] == [
        ids[1],
        ids[2],
        ids[4],
        ids[5],
        no_data,
    ]
    codes = [letter["reason_code"] for letter in letters]
    assert codes == [b"not_json", b"invalid", b"not_object", b"invalid", b"missing_data"]
    # The original payload byte for byte, the reason in words, field errors where there are.
    assert letters[0]["data"] == b'{"external_id": "st-x", "amount": '
    assert b"not JSON" in letters[0]["reason"]
    assert letters[1]["data"] == bad_amount
    assert orjson.loads(letters[1]["errors"]) == {
        "amount": ["Ensure this value is greater than or equal to 0.01."]
    }
    assert b"amount: Ensure this value" in letters[1]["reason"]
    assert "colour" in orjson.loads(letters[3]["errors"])
    assert orjson.loads(letters[4]["other_fields"]) == {"payload": "{}", "trace": "abc"}
    assert {letter["source_stream"].decode() for letter in letters} == {stream}
    assert pending_count(redis_conn, stream) == 0


def test_a_consumer_dying_before_the_commit_leaves_its_batch_pending_for_another(
    redis_conn, stream, make_source, monkeypatch
):
    items = [transaction_item(n) for n in range(5)]
    publish(redis_conn, stream, items)
    real_submit = consumer_module.transactions_submit

    def dies_before_commit(**kwargs):
        with transaction.atomic():
            real_submit(**kwargs)
            assert Transaction.objects.count() == 5  # inserted, not yet committed
            raise Crash

    monkeypatch.setattr(consumer_module, "transactions_submit", dies_before_commit)
    with pytest.raises(Crash):
        consumer_for(make_source("c1")).run_once()

    assert Transaction.objects.count() == 0  # rolled back
    assert pending_count(redis_conn, stream) == 5  # not acknowledged
    holders = redis_conn.xpending_range(stream, "fraudcases", "-", "+", 10)
    assert {row["consumer"] for row in holders} == {b"c1"}

    monkeypatch.setattr(consumer_module, "transactions_submit", real_submit)
    outcome = consumer_for(make_source("c2", claim_min_idle_ms=0)).run_once()

    assert (outcome.consumed, outcome.stored, outcome.duplicates) == (5, 5, 0)
    assert Transaction.objects.count() == 5
    assert pending_count(redis_conn, stream) == 0


def test_a_batch_committed_but_not_acknowledged_is_redelivered_as_duplicates(
    redis_conn, stream, make_source, monkeypatch
):
    publish(redis_conn, stream, [transaction_item(n) for n in range(4)] + [b"oops"])
    first = make_source("c1")

    monkeypatch.setattr(first, "settle", crash)
    with pytest.raises(Crash):
        consumer_for(first).run_once()
    assert Transaction.objects.count() == 4  # committed
    assert pending_count(redis_conn, stream) == 5
    assert dead_letters(redis_conn, stream) == []  # written only together with the ack

    outcome = consumer_for(make_source("c2", claim_min_idle_ms=0)).run_once()

    assert (outcome.stored, outcome.duplicates, len(outcome.dead_letters)) == (0, 4, 1)
    assert Transaction.objects.count() == 4
    assert [letter["reason_code"] for letter in dead_letters(redis_conn, stream)] == [b"not_json"]
    assert pending_count(redis_conn, stream) == 0


def test_a_restarted_consumer_resumes_its_own_pending_messages_first(
    redis_conn, stream, make_source, monkeypatch
):
    publish(redis_conn, stream, [transaction_item(n) for n in range(3)])
    monkeypatch.setattr(consumer_module, "transactions_submit", crash)
    with pytest.raises(Crash):
        consumer_for(make_source("fixed-name")).run_once()
    monkeypatch.undo()
    publish(redis_conn, stream, [transaction_item(n) for n in range(3, 6)])

    # Same name, new process: its three unacknowledged entries come back before anything new,
    # and without waiting for the claim time.
    restarted = consumer_for(make_source("fixed-name"), batch=10)
    first = restarted.run_once()
    second = restarted.run_once()

    assert first.consumed == 3 and first.stored == 3
    assert second.consumed == 3 and second.stored == 3
    assert Transaction.objects.count() == 6
    assert pending_count(redis_conn, stream) == 0


def test_a_message_that_keeps_killing_consumers_is_dead_lettered(redis_conn, stream, make_source):
    source = make_source("c2", claim_min_idle_ms=0)
    payload = orjson.dumps(transaction_item(1))
    (poison,) = publish(redis_conn, stream, [payload])
    redis_conn.xreadgroup("fraudcases", "dead-1", {stream: ">"})
    # As if five consumers had taken it and died: delivered five times so far.
    redis_conn.xclaim(stream, "fraudcases", "dead-5", 0, [poison], idle=5000, retrycount=5)

    outcome = consumer_for(source).run_once()

    assert outcome.stored == 0
    (letter,) = dead_letters(redis_conn, stream)
    assert letter["reason_code"] == b"max_deliveries"
    assert letter["deliveries"] == b"6"
    assert letter["data"] == payload
    assert Transaction.objects.count() == 0
    assert pending_count(redis_conn, stream) == 0


def test_an_entry_trimmed_before_its_acknowledgement_is_reported_as_lost(
    redis_conn, stream, make_source, monkeypatch
):
    ids = publish(redis_conn, stream, [transaction_item(1), transaction_item(2)])
    monkeypatch.setattr(consumer_module, "transactions_submit", crash)
    with pytest.raises(Crash):
        consumer_for(make_source("c1")).run_once()
    monkeypatch.undo()
    redis_conn.xdel(stream, ids[0])  # e.g. a producer's XADD MAXLEN trimmed it meanwhile

    outcome = consumer_for(make_source("c2", claim_min_idle_ms=0)).run_once()

    assert outcome.stored == 1
    (letter,) = dead_letters(redis_conn, stream)
    assert (letter["reason_code"], letter["source_id"].decode()) == (b"deleted", ids[0])
    assert pending_count(redis_conn, stream) == 0


def test_a_database_outage_is_retried_and_nothing_is_acknowledged_meanwhile(
    redis_conn, stream, make_source, monkeypatch
):
    publish(redis_conn, stream, [transaction_item(n) for n in range(3)])
    real_submit = consumer_module.transactions_submit
    seen_pending = []

    def database_down_twice(**kwargs):
        seen_pending.append(pending_count(redis_conn, stream))
        if len(seen_pending) <= 2:
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        return real_submit(**kwargs)

    monkeypatch.setattr(consumer_module, "transactions_submit", database_down_twice)
    before = sample(metrics_exposition()[0].decode(), "fraudcases_stream_retries_total",
                    stream=stream, operation="store")  # fmt: skip

    outcome = consumer_for(make_source()).run_once()

    assert outcome.stored == 3
    assert seen_pending == [3, 3, 3]  # every attempt saw the batch still unacknowledged
    assert pending_count(redis_conn, stream) == 0
    after = sample(metrics_exposition()[0].decode(), "fraudcases_stream_retries_total",
                   stream=stream, operation="store")  # fmt: skip
    assert (after or 0) - (before or 0) == 2


def test_a_stop_during_a_database_outage_leaves_the_batch_pending(
    redis_conn, stream, make_source, monkeypatch
):
    publish(redis_conn, stream, [transaction_item(n) for n in range(3)])
    consumer = consumer_for(make_source())

    def database_down(**kwargs):
        consumer.stop.set()  # SIGTERM arrives while the database is down
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(consumer_module, "transactions_submit", database_down)

    consumer.run()  # returns: gave up the batch instead of retrying forever

    assert Transaction.objects.count() == 0
    assert pending_count(redis_conn, stream) == 3
    assert dead_letters(redis_conn, stream) == []


def test_lag_pending_and_outcomes_are_in_the_metrics(redis_conn, stream, make_source):
    publish(redis_conn, stream, [transaction_item(n) for n in range(5)] + [b"nope"])
    consumer = consumer_for(make_source(), batch=2)

    consumer.run_once()  # reads 2 of 6: 4 wait, 2 are in hand when the lag is read
    text = metrics_exposition()[0].decode()
    labels = {"group": "fraudcases", "stream": stream}
    assert sample(text, "fraudcases_stream_lag_messages", **labels) == 4
    assert sample(text, "fraudcases_stream_pending_messages", **labels) == 2

    while consumer.run_once() is not None:
        pass
    consumer.run_once()  # an empty read observes the backlog again
    text = metrics_exposition()[0].decode()
    assert sample(text, "fraudcases_stream_lag_messages", **labels) == 0
    assert sample(text, "fraudcases_stream_messages_total", outcome="stored", stream=stream) == 5
    assert sample(text, "fraudcases_stream_messages_total", outcome="dead", stream=stream) == 1
    assert consumer.totals == {"consumed": 6, "stored": 5, "duplicates": 0, "dead_letters": 1}


def test_a_message_that_fails_to_store_for_another_reason_is_isolated(
    redis_conn, stream, make_source, monkeypatch
):
    ids = publish(redis_conn, stream, [transaction_item(n) for n in range(4)])
    real_submit = consumer_module.transactions_submit

    def fails_on_one(*, items, **kwargs):
        if any(item["external_id"] == "st-00002" for item in items):
            raise RuntimeError("unexpected failure for this row")
        return real_submit(items=items, **kwargs)

    monkeypatch.setattr(consumer_module, "transactions_submit", fails_on_one)

    outcome = consumer_for(make_source()).run_once()

    assert outcome.stored == 3  # the batch failed, then each message was stored on its own
    (letter,) = dead_letters(redis_conn, stream)
    assert (letter["reason_code"], letter["source_id"].decode()) == (b"store_error", ids[2])
    assert b"RuntimeError: unexpected failure for this row" in letter["reason"]
    assert pending_count(redis_conn, stream) == 0
