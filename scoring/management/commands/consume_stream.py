"""``manage.py consume_stream``: store transactions arriving on a Redis stream or a Kafka topic.

    manage.py consume_stream --stream transactions --group fraudcases [--consumer NAME]
        [--batch 500] [--block-ms 2000] [--source redis|kafka]

Runs until SIGTERM or SIGINT, which let the batch in hand finish (stored, dead letters written,
acknowledged) before it exits; a second signal exits at once, leaving that batch unacknowledged
for another consumer. Message format and guarantees: docs/streams.md.
"""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.streams.consumer import ConsumerStopped, StreamConsumer
from scoring.streams.kafka_source import KafkaSetupError, KafkaSource
from scoring.streams.redis_source import RedisStreamSource, default_consumer_name, redis_client

logger = logging.getLogger("scoring.streams")


def _positive(name: str, value: int, *, upper: int | None = None) -> None:
    if value < 1 or (upper is not None and value > upper):
        bound = f"between 1 and {upper}" if upper is not None else "at least 1"
        raise CommandError(f"{name} must be {bound}; got {value}.")


def _redis_location(client) -> str:
    """host:port/db of a client, without credentials (for messages)."""
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
    return f"{where}/{kwargs.get('db', 0)}"


class Command(BaseCommand):
    help = (
        "Consume transactions from a Redis stream (consumer group) or a Kafka topic, store them "
        "through the ingest service, dead-letter what cannot be stored (docs/streams.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=("redis", "kafka"), default="redis")
        parser.add_argument(
            "--stream", default=settings.STREAM_NAME, help="Redis stream or Kafka topic."
        )
        parser.add_argument("--group", default=settings.STREAM_GROUP, help="Consumer group.")
        parser.add_argument(
            "--consumer",
            default="",
            help="This consumer's name in the group (default <host>-<pid>). A fixed name lets "
            "a restarted consumer resume its own unacknowledged messages at once.",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=settings.STREAM_BATCH_SIZE,
            help=f"Messages per batch, 1-{settings.INGEST_MAX_BATCH}.",
        )
        parser.add_argument(
            "--block-ms",
            type=int,
            default=settings.STREAM_BLOCK_MS,
            help="Longest wait of one read for new messages.",
        )
        parser.add_argument(
            "--claim-min-idle-ms",
            type=int,
            default=settings.STREAM_CLAIM_MIN_IDLE_MS,
            help="Redis: take over messages pending this long with another consumer.",
        )
        parser.add_argument(
            "--max-deliveries",
            type=int,
            default=settings.STREAM_MAX_DELIVERIES,
            help="Redis: dead-letter a message delivered more often than this (0: never).",
        )
        parser.add_argument(
            "--dead-letter",
            default="",
            help="Dead-letter stream or topic (default: the stream's name + "
            f"{settings.STREAM_DEAD_LETTER_SUFFIX!r}).",
        )
        parser.add_argument(
            "--redis-url", default=settings.STREAM_REDIS_URL, help="Default: STREAM_REDIS_URL."
        )
        parser.add_argument(
            "--bootstrap-servers",
            default=settings.STREAM_KAFKA_BOOTSTRAP_SERVERS,
            help="Kafka: default STREAM_KAFKA_BOOTSTRAP_SERVERS.",
        )

    def handle(self, *args, **options) -> None:
        batch, block_ms = options["batch"], options["block_ms"]
        _positive("--batch", batch, upper=settings.INGEST_MAX_BATCH)
        _positive("--block-ms", block_ms)
        _positive("--claim-min-idle-ms", options["claim_min_idle_ms"])
        if options["max_deliveries"] < 0:
            raise CommandError("--max-deliveries must be 0 (never) or more.")
        stream, group = options["stream"].strip(), options["group"].strip()
        if not stream or not group:
            raise CommandError("--stream and --group must not be empty.")
        consumer_name = options["consumer"].strip() or default_consumer_name()
        dead_letter = options["dead_letter"].strip() or stream + settings.STREAM_DEAD_LETTER_SUFFIX
        if dead_letter == stream:
            raise CommandError("The dead-letter stream must differ from the stream it serves.")

        stop = threading.Event()
        if options["source"] == "kafka":
            source, where = self._kafka(options, stream, group, consumer_name, dead_letter)
        else:
            source, where = self._redis(
                options, stream, group, consumer_name, dead_letter, block_ms
            )
        consumer = StreamConsumer(
            source=source,
            batch_size=batch,
            block_ms=block_ms,
            max_deliveries=options["max_deliveries"] if options["source"] == "redis" else 0,
            max_payload_bytes=settings.STREAM_MESSAGE_MAX_BYTES,
            backoff_max_seconds=settings.STREAM_BACKOFF_MAX_SECONDS,
            stop=stop,
        )

        def on_signal(signum, frame) -> None:
            if stop.is_set():
                logger.warning(
                    "Second %s: exiting now; the batch in hand stays unacknowledged",
                    signal.Signals(signum).name,
                )
                raise SystemExit(128 + signum)
            logger.info("%s: stopping after the batch in hand", signal.Signals(signum).name)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if isinstance(source, RedisStreamSource):
                # The group must exist before the first read; a Redis that is down is waited for.
                try:
                    consumer.retry("create group", source.ensure_group, source.transient_errors)
                except ConsumerStopped as exc:
                    source.close()
                    raise CommandError(f"Stopped before starting: {exc}") from None
            self.stdout.write(
                f"Consuming {options['source']} stream {stream!r} at {where} as "
                f"{consumer_name!r} in group {group!r}; dead letters to {dead_letter!r}. "
                "SIGTERM or Ctrl-C stops after the batch in hand."
            )
            consumer.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        totals = consumer.totals
        self.stdout.write(
            f"Stopped. {totals['consumed']} messages: {totals['stored']} stored, "
            f"{totals['duplicates']} duplicates, {totals['dead_letters']} dead-lettered."
        )

    def _redis(self, options, stream, group, consumer_name, dead_letter, block_ms):
        url = options["redis_url"].strip()
        if not url:
            raise CommandError(
                "No Redis for streams: set STREAM_REDIS_URL (or CELERY_BROKER_URL=redis://...) "
                "or pass --redis-url. The embedded demo runs without Redis; see docs/streams.md."
            )
        try:
            client = redis_client(url, block_ms=block_ms)
        except ValueError as exc:
            raise CommandError(f"--redis-url: {exc}") from None
        source = RedisStreamSource(
            client=client,
            stream=stream,
            group=group,
            consumer=consumer_name,
            dead_letter_stream=dead_letter,
            claim_min_idle_ms=options["claim_min_idle_ms"],
        )
        return source, _redis_location(client)

    def _kafka(self, options, stream, group, consumer_name, dead_letter):
        servers = options["bootstrap_servers"].strip()
        if not servers:
            raise CommandError(
                "No Kafka brokers: set STREAM_KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers."
            )
        try:
            source = KafkaSource.connect(
                bootstrap_servers=servers,
                topic=stream,
                group=group,
                consumer_name=consumer_name,
                dead_letter_topic=dead_letter,
                config=settings.STREAM_KAFKA_CONFIG,
            )
        except KafkaSetupError as exc:
            raise CommandError(str(exc)) from None
        return source, servers
