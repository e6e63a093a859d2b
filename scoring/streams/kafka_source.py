"""Kafka as a ``StreamSource`` (confluent-kafka, an optional dependency imported lazily).

The consumer runs with ``enable.auto.commit=false``: offsets are committed synchronously by
``settle`` only, after the database commit and after the batch's dead letters are delivered to
the dead-letter topic (``<topic>.dead``, acks=all, idempotent producer). What a consumer had
read but not committed when it died is delivered again by the group to the partition's next
owner, so Kafka needs no XAUTOCLAIM; the re-delivered transactions are duplicates.

Not covered (documented in docs/streams.md): Kafka has no delivery counter, so
``--max-deliveries`` does not apply; while the database is down the consumer does not poll, and
an outage longer than ``max.poll.interval.ms`` (5 minutes by default) makes the group hand the
partitions to another consumer, which re-reads the uncommitted batch (duplicates, no loss).

No Kafka broker runs on the development machine: the tests drive this class with fake consumer
and producer objects that follow confluent-kafka's API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from .messages import DeadLetter, StreamMessage

logger = logging.getLogger(__name__)

KAFKA_CLIENT_VERSION = "2.16.1"


class KafkaSetupError(Exception):
    """Kafka cannot be used: confluent-kafka is not installed, or it refused the configuration."""


class DeadLetterNotDeliveredError(Exception):
    """The dead-letter topic did not confirm every dead letter; the batch is not committed."""


def load_confluent_kafka():
    """The confluent_kafka module, or an error saying how to install it."""
    try:
        import confluent_kafka
    except ImportError as exc:
        raise KafkaSetupError(
            "--source kafka needs the confluent-kafka package, which is not installed: "
            f"pip install confluent-kafka=={KAFKA_CLIENT_VERSION} (see docs/streams.md)."
        ) from exc
    return confluent_kafka


class KafkaSource:
    """One member of a Kafka consumer group on one topic, with a dead-letter topic."""

    label = "kafka"

    def __init__(
        self,
        *,
        consumer: Any,
        producer: Any,
        topic: str,
        group: str,
        consumer_name: str,
        dead_letter_topic: str,
        topic_partition: Callable[..., Any],
        kafka_error: type[BaseException],
        flush_timeout_seconds: float = 30.0,
    ):
        self.consumer = consumer
        self.producer = producer
        self.stream = topic
        self.group = group
        self.consumer_name = consumer_name
        self.dead_letter_topic = dead_letter_topic
        self._topic_partition = topic_partition
        self._kafka_error = kafka_error
        self.transient_errors: tuple[type[BaseException], ...] = (
            kafka_error,
            DeadLetterNotDeliveredError,
        )
        self.flush_timeout_seconds = flush_timeout_seconds
        self._delivered: set[str] = set()  # dead letters of the batch in hand already confirmed

    @classmethod
    def connect(
        cls,
        *,
        bootstrap_servers: str,
        topic: str,
        group: str,
        consumer_name: str,
        dead_letter_topic: str,
        config: dict[str, Any],
    ) -> KafkaSource:
        """A real confluent-kafka consumer (subscribed) and dead-letter producer.

        ``config`` is passed to both (security.protocol, sasl.*, ssl.* ...); the settings that
        the guarantees rest on are applied after it and cannot be overridden.
        """
        kafka = load_confluent_kafka()
        common = {"bootstrap.servers": bootstrap_servers, "client.id": consumer_name, **config}
        consumer_config = {
            **common,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        }
        try:
            consumer = kafka.Consumer(consumer_config)
        except kafka.KafkaException as exc:
            raise KafkaSetupError(f"Kafka refused the consumer configuration: {exc}") from None
        try:
            producer = kafka.Producer({**common, "enable.idempotence": True, "acks": "all"})
        except kafka.KafkaException as exc:
            consumer.close()
            raise KafkaSetupError(f"Kafka refused the producer configuration: {exc}") from None
        consumer.subscribe([topic])
        return cls(
            consumer=consumer,
            producer=producer,
            topic=topic,
            group=group,
            consumer_name=consumer_name,
            dead_letter_topic=dead_letter_topic,
            topic_partition=kafka.TopicPartition,
            kafka_error=kafka.KafkaException,
        )

    def read(self, *, count: int, block_ms: int) -> list[StreamMessage]:
        """Up to ``count`` messages; error events are logged (fatal ones stop the consumer)."""
        messages = []
        for record in self.consumer.consume(num_messages=count, timeout=block_ms / 1000):
            error = record.error()
            if error is not None:
                if error.fatal():
                    raise RuntimeError(f"Kafka consumer failed: {error.str()}")
                logger.warning("Kafka: %s", error.str())
                continue
            messages.append(
                StreamMessage(
                    message_id=f"{record.topic()}/{record.partition()}/{record.offset()}",
                    payload=record.value(),
                    ref=record,
                )
            )
        return messages

    def keepalive(self, messages: list[StreamMessage]) -> None:
        """Nothing to do: uncommitted offsets stay ours until the group reassigns them."""

    def settle(self, *, messages: list[StreamMessage], dead_letters: list[DeadLetter]) -> None:
        """Deliver the dead letters (waiting for the broker's acks), then commit the offsets."""
        failures: list[str] = []

        def report(message_id: str) -> Callable[[Any, Any], None]:
            def on_delivery(error, record) -> None:
                if error is None:
                    self._delivered.add(message_id)
                else:
                    failures.append(f"{message_id}: {error}")

            return on_delivery

        waiting = []
        for letter in dead_letters:
            message = letter.message
            if message.message_id in self._delivered:
                continue  # confirmed by an earlier attempt to settle this batch
            self.producer.produce(
                self.dead_letter_topic,
                value=message.payload or b"",
                key=message.ref.key() if message.ref is not None else None,
                headers=self._dead_letter_headers(letter),
                on_delivery=report(message.message_id),
            )
            waiting.append(message.message_id)
        if waiting:
            left = self.producer.flush(self.flush_timeout_seconds)
            undelivered = [mid for mid in waiting if mid not in self._delivered]
            if left or failures or undelivered:
                raise DeadLetterNotDeliveredError(
                    f"{len(undelivered)} dead letters not confirmed by {self.dead_letter_topic!r}"
                    + (f": {failures[0]}" if failures else "")
                )
        self._commit(messages)
        self._delivered.clear()

    def _commit(self, messages: list[StreamMessage]) -> None:
        """Commit, per partition, the offset after the last message of the batch."""
        last: dict[tuple[str, int], int] = {}
        for message in messages:
            record = message.ref
            key = (record.topic(), record.partition())
            last[key] = max(last.get(key, -1), record.offset())
        offsets = [self._topic_partition(t, p, o + 1) for (t, p), o in sorted(last.items())]
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except self._kafka_error as exc:
            error = exc.args[0] if exc.args else None
            if error is not None and getattr(error, "retriable", lambda: False)():
                raise
            # Typically the partitions were reassigned meanwhile: their next owner re-reads
            # these messages, which are stored already and count as duplicates.
            logger.warning("Kafka: offsets not committed (%s); they will be re-read", exc)

    def _dead_letter_headers(self, letter: DeadLetter) -> list[tuple[str, bytes]]:
        record = letter.message.ref
        source = (
            {"source_partition": record.partition(), "source_offset": record.offset()}
            if record is not None
            else {}
        )
        headers = {
            "reason_code": letter.code.value,
            "reason": letter.reason,
            "errors": orjson.dumps(letter.errors).decode(),
            "source_topic": self.stream,
            **source,
            "group": self.group,
            "consumer": self.consumer_name,
            "dead_at": datetime.now(UTC).isoformat(),
        }
        return [(name, str(value).encode()) for name, value in headers.items()]

    def backlog(self) -> tuple[int | None, int | None]:
        """(messages of the topic not yet committed by the group, None): over all partitions,
        so every member reports the group's whole lag."""
        topic = self.consumer.list_topics(self.stream, timeout=5).topics.get(self.stream)
        if topic is None or not topic.partitions:
            return None, None
        partitions = [self._topic_partition(self.stream, p) for p in sorted(topic.partitions)]
        lag = 0
        for committed in self.consumer.committed(partitions, timeout=5):
            low, high = self.consumer.get_watermark_offsets(committed, timeout=5, cached=False)
            position = committed.offset if committed.offset >= 0 else low
            lag += max(0, high - position)
        return lag, None

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush(self.flush_timeout_seconds)
