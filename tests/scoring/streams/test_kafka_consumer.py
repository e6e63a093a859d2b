"""The Kafka consumer (``--source kafka``) against FAKE consumer and producer objects.

No Kafka broker runs on this machine, so these fakes stand in for confluent-kafka's ``Consumer``
and ``Producer`` (same method names and arguments); the database and the ingest service are
real. One test builds the real confluent-kafka objects (no broker needed) to check that the
configuration the guarantees rest on is accepted by librdkafka.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from scoring.models import Transaction
from scoring.streams import consumer as consumer_module
from scoring.streams.consumer import StreamConsumer
from scoring.streams.kafka_source import KafkaSetupError, KafkaSource

from .helpers import transaction_item

pytestmark = pytest.mark.django_db(transaction=True)
TOPIC = "transactions"
UNSET = -1001  # confluent-kafka's OFFSET_INVALID: the group has committed nothing yet


class Crash(BaseException):
    """The process dies here."""


class FakeKafkaError:
    def __init__(self, text: str, *, retriable: bool = False, fatal: bool = False):
        self.text, self._retriable, self._fatal = text, retriable, fatal

    def str(self) -> str:
        return self.text

    def retriable(self) -> bool:
        return self._retriable

    def fatal(self) -> bool:
        return self._fatal

    def __str__(self) -> str:
        return self.text


class FakeKafkaException(Exception):
    """Like confluent_kafka.KafkaException: ``args[0]`` is the KafkaError."""


class FakeTopicPartition:
    def __init__(self, topic: str, partition: int, offset: int = UNSET):
        self.topic, self.partition, self.offset = topic, partition, offset

    def __repr__(self) -> str:
        return f"TP({self.topic}, {self.partition}, {self.offset})"


class FakeRecord:
    def __init__(self, partition: int, offset: int, value: bytes | None, key: bytes | None = None):
        self._partition, self._offset, self._value, self._key = partition, offset, value, key

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def error(self):
        return None


class FakeConsumer:
    """Hands out ``records`` in order; records every commit (with what was true at the time)."""

    def __init__(self, records: list[FakeRecord], events: list[str], high: dict[int, int]):
        self.records = list(records)
        self.events = events
        self.high = high
        self.commits: list[list[tuple[str, int, int]]] = []
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.commit_errors: list[Exception] = []
        self.closed = False

    def consume(self, num_messages: int = 1, timeout: float = -1):
        taken, self.records = self.records[:num_messages], self.records[num_messages:]
        return taken

    def commit(self, offsets=None, asynchronous: bool = True):
        assert asynchronous is False, "offsets must be committed synchronously"
        # The database transaction is over: the consumer is not inside an atomic block.
        assert not connection.in_atomic_block
        self.events.append("commit")
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        for tp in offsets:
            self.committed_offsets[(tp.topic, tp.partition)] = tp.offset

    def committed(self, partitions, timeout=None):
        offsets = self.committed_offsets
        return [
            FakeTopicPartition(tp.topic, tp.partition, offsets.get((tp.topic, tp.partition), UNSET))
            for tp in partitions
        ]

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        return 0, self.high[partition.partition]

    def list_topics(self, topic=None, timeout=-1):
        partitions = {p: SimpleNamespace(id=p) for p in self.high}
        return SimpleNamespace(topics={TOPIC: SimpleNamespace(partitions=partitions)})

    def close(self):
        self.closed = True


class FakeProducer:
    """Queues messages; ``flush`` reports each delivered, or failed while ``failures`` last."""

    def __init__(self, events: list[str], failures: int = 0):
        self.events = events
        self.failures = failures
        self.delivered: list[dict] = []
        self._queue: list[dict] = []

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None):
        self.events.append("produce")
        self._queue.append(
            {"topic": topic, "value": value, "key": key, "headers": dict(headers or []),
             "on_delivery": on_delivery}
        )  # fmt: skip

    def flush(self, timeout=None):
        self.events.append("flush")
        queue, self._queue = self._queue, []
        for message in queue:
            if self.failures > 0:
                self.failures -= 1
                message["on_delivery"](FakeKafkaError("Local: Message timed out"), None)
            else:
                self.delivered.append(message)
                message["on_delivery"](None, SimpleNamespace())
        return 0


def kafka_source(records, *, failures: int = 0, high=None):
    events: list[str] = []
    consumer = FakeConsumer(records, events, high or {0: 0, 1: 0})
    producer = FakeProducer(events, failures=failures)
    source = KafkaSource(
        consumer=consumer,
        producer=producer,
        topic=TOPIC,
        group="fraudcases",
        consumer_name="k1",
        dead_letter_topic=TOPIC + ".dead",
        topic_partition=FakeTopicPartition,
        kafka_error=FakeKafkaException,
    )
    return source, consumer, producer, events


def run_once(source):
    return StreamConsumer(
        source=source,
        batch_size=100,
        block_ms=10,
        max_deliveries=0,
        max_payload_bytes=64 * 1024,
        backoff_max_seconds=0.01,
        backlog_every_seconds=3600,
    ).run_once()


def record(partition: int, offset: int, item, key: bytes | None = None) -> FakeRecord:
    value = item if isinstance(item, bytes | type(None)) else orjson.dumps(item)
    return FakeRecord(partition, offset, value, key)


def test_offsets_are_committed_per_partition_after_the_database_commit():
    records = [record(0, 10 + n, transaction_item(n)) for n in range(3)]
    records += [record(1, 4 + n, transaction_item(10 + n)) for n in range(2)]
    source, consumer, _, events = kafka_source(records)

    outcome = run_once(source)

    assert (outcome.stored, outcome.duplicates, outcome.dead_letters) == (5, 0, [])
    assert Transaction.objects.filter(source="stream").count() == 5
    # The offset after the last message of each partition, committed once, after the rows.
    assert consumer.commits == [[(TOPIC, 0, 13), (TOPIC, 1, 6)]]
    assert events == ["commit"]


def test_invalid_messages_go_to_the_dead_letter_topic_before_the_offsets_are_committed():
    bad = orjson.dumps(transaction_item(2, currency="ZZZ"))
    records = [
        record(0, 0, transaction_item(1), key=b"acct-001"),
        record(0, 1, b"\x00garbage", key=b"acct-009"),
        record(0, 2, bad, key=b"acct-002"),
        record(0, 3, None),
    ]
    source, consumer, producer, events = kafka_source(records)

    outcome = run_once(source)

    assert outcome.stored == 1
    assert events == ["produce", "produce", "produce", "flush", "commit"]
    assert consumer.commits == [[(TOPIC, 0, 4)]]
    letters = producer.delivered
    assert [m["topic"] for m in letters] == [TOPIC + ".dead"] * 3
    assert [m["value"] for m in letters] == [b"\x00garbage", bad, b""]  # verbatim
    assert [m["key"] for m in letters] == [b"acct-009", b"acct-002", None]
    headers = letters[1]["headers"]
    assert headers["reason_code"] == b"invalid"
    assert orjson.loads(headers["errors"]) == {
        "currency": ["'ZZZ' is not an ISO 4217 currency code."]
    }
    assert (headers["source_topic"], headers["source_partition"], headers["source_offset"]) == (
        TOPIC.encode(), b"0", b"2"
    )  # fmt: skip
    assert letters[0]["headers"]["reason_code"] == b"not_json"
    assert letters[2]["headers"]["reason_code"] == b"missing_data"


def test_a_crash_before_the_database_commit_commits_no_offset(monkeypatch):
    records = [record(0, n, transaction_item(n)) for n in range(3)]
    source, consumer, _, _ = kafka_source(records)

    def crash(**kwargs):
        raise Crash

    monkeypatch.setattr(consumer_module, "transactions_submit", crash)
    with pytest.raises(Crash):
        run_once(source)
    assert consumer.commits == []
    assert Transaction.objects.count() == 0

    # The group hands the uncommitted messages to the partition's next owner.
    monkeypatch.undo()
    heir, heir_consumer, _, _ = kafka_source(records)
    assert run_once(heir).stored == 3
    assert heir_consumer.commits == [[(TOPIC, 0, 3)]]


def test_messages_re_read_after_a_lost_commit_are_duplicates():
    records = [record(0, n, transaction_item(n)) for n in range(3)]
    source, consumer, _, _ = kafka_source(records)
    consumer.commit_errors.append(
        FakeKafkaException(FakeKafkaError("Broker: Unknown member", retriable=False))
    )

    outcome = run_once(source)  # stored; the refused commit is logged, not fatal

    assert outcome.stored == 3 and consumer.commits == []
    again, _, _, _ = kafka_source(records)
    outcome = run_once(again)
    assert (outcome.stored, outcome.duplicates) == (0, 3)
    assert Transaction.objects.count() == 3


def test_a_retriable_commit_error_is_retried():
    source, consumer, _, events = kafka_source([record(0, 0, transaction_item(1))])
    consumer.commit_errors.append(
        FakeKafkaException(FakeKafkaError("Broker: Request timed out", retriable=True))
    )

    run_once(source)

    assert events == ["commit", "commit"]
    assert consumer.commits == [[(TOPIC, 0, 1)]]


def test_unconfirmed_dead_letters_hold_the_commit_back_and_are_sent_once():
    records = [record(0, 0, b"nope"), record(0, 1, b"[]"), record(0, 2, transaction_item(1))]
    source, consumer, producer, events = kafka_source(records, failures=1)

    run_once(source)

    # First flush: one of two dead letters failed, so no commit; the retry re-sends only it.
    assert events == ["produce", "produce", "flush", "produce", "flush", "commit"]
    assert [m["value"] for m in producer.delivered] == [b"[]", b"nope"]
    assert consumer.commits == [[(TOPIC, 0, 3)]]


def test_the_backlog_is_the_group_lag_over_all_partitions():
    source, consumer, _, _ = kafka_source([], high={0: 10, 1: 5})
    consumer.committed_offsets[(TOPIC, 0)] = 3

    assert source.backlog() == (7 + 5, None)


def test_without_confluent_kafka_the_command_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails
    with pytest.raises(CommandError, match=r"pip install confluent-kafka==\d"):
        call_command("consume_stream", "--source", "kafka", "--bootstrap-servers", "127.0.0.1:9")


def test_kafka_needs_bootstrap_servers(settings):
    settings.STREAM_KAFKA_BOOTSTRAP_SERVERS = ""
    with pytest.raises(CommandError, match="STREAM_KAFKA_BOOTSTRAP_SERVERS"):
        call_command("consume_stream", "--source", "kafka", "--bootstrap-servers", "")


def test_the_real_client_accepts_the_configuration():
    pytest.importorskip("confluent_kafka")
    source = KafkaSource.connect(
        bootstrap_servers="127.0.0.1:9",  # nothing listens: constructing needs no broker
        topic=TOPIC,
        group="fraudcases",
        consumer_name="config-check",
        dead_letter_topic=TOPIC + ".dead",
        config={"socket.timeout.ms": "1000"},
    )
    source.close()
    with pytest.raises(KafkaSetupError, match="No such configuration property"):
        KafkaSource.connect(
            bootstrap_servers="127.0.0.1:9",
            topic=TOPIC,
            group="fraudcases",
            consumer_name="config-check",
            dead_letter_topic=TOPIC + ".dead",
            config={"no.such.property": "1"},
        )
