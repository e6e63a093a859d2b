"""The consumer loop shared by the Redis Streams and Kafka sources.

One batch at a time: read it, decode each message, validate and store the transactions through the
ingest service (the same one as the API), then *settle* the batch: write its dead letters and
acknowledge (XACK / offset commit) every message in it. Settling happens only after the database
transaction has committed, so a consumer that dies anywhere before that leaves the whole batch
unacknowledged and another consumer processes it again; storage is idempotent on ``external_id``,
so a re-delivered message is counted as a duplicate, never stored twice.

A database or broker outage is retried with capped exponential backoff and never acknowledges
anything; a stop request (SIGTERM / SIGINT) lets the current batch finish and settle, and a batch
that cannot finish because of an outage is left unacknowledged for the next consumer.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter as TallyCounter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from ..models import Transaction
from ..schema import BatchValidationError
from ..services.ingest import transactions_submit
from . import metrics
from .messages import DeadLetter, DeadReason, MessageDecodeError, StreamMessage, decode_payload

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A database that is down, restarting, unreachable or locked (SQLite's "database is locked").
DATABASE_OUTAGE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
REASON_MAX_CHARS = 2000


class StreamSource(Protocol):
    """What the loop needs from a broker; see ``redis_source`` and ``kafka_source``."""

    label: str  # "redis" or "kafka"
    stream: str
    group: str
    # Broker errors worth retrying (connection lost, timeout, failover).
    transient_errors: tuple[type[BaseException], ...]

    def read(self, *, count: int, block_ms: int) -> list[StreamMessage]:
        """Up to ``count`` messages, waiting at most ``block_ms`` when there are none."""

    def keepalive(self, messages: list[StreamMessage]) -> None:
        """Called while a batch waits for the database, so no one takes it from a live consumer."""

    def settle(self, *, messages: list[StreamMessage], dead_letters: list[DeadLetter]) -> None:
        """Write ``dead_letters``, then acknowledge every message of the batch."""

    def backlog(self) -> tuple[int | None, int | None]:
        """(not yet delivered to the group, delivered but unacknowledged); None: unknown."""

    def close(self) -> None:
        """Release the broker connection."""


class ConsumerStopped(Exception):
    """A stop was requested while the broker or the database was down; the batch stays unacked."""


@dataclass
class StoreResult:
    """What the ingest service did with a batch's decodable messages."""

    accepted: int = 0
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass
class BatchOutcome:
    """One settled batch: messages read, new rows stored, duplicates, dead letters."""

    consumed: int
    stored: int
    duplicates: int
    dead_letters: list[DeadLetter]
    seconds: float


def _errors_sentence(errors: dict[str, Any]) -> str:
    parts = []
    for name, messages in errors.items():
        text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        parts.append(f"{name}: {text}")
    return ("Refused by ingestion: " + " | ".join(parts))[:REASON_MAX_CHARS]


def _submit(items: list[object]) -> tuple[int, int, dict[int, dict[str, Any]]]:
    """Validate and store ``items`` with the ingest service: (accepted, duplicates, invalid).

    The service stores nothing when any item is invalid (the API's all-or-nothing contract), so
    a batch with invalid items is submitted again without them; ``invalid`` maps their index to
    the validator's errors by field.
    """
    try:
        result = transactions_submit(items=items, source=Transaction.Source.STREAM)
        return result.accepted, result.duplicates, {}
    except BatchValidationError as exc:
        raw = exc.extra.get("errors") or {}
        try:
            invalid = {int(index): errors for index, errors in raw.items()}
        except (TypeError, ValueError):
            raise exc from None  # not errors by item index: handled as a batch failure
        if not invalid or not all(0 <= i < len(items) for i in invalid):
            raise
    valid = [item for index, item in enumerate(items) if index not in invalid]
    if not valid:
        return 0, 0, invalid
    result = transactions_submit(items=valid, source=Transaction.Source.STREAM)
    return result.accepted, result.duplicates, invalid


def _rounds(items: list[dict[str, Any]]) -> list[list[int]]:
    """Indexes of ``items`` in submission rounds: round k holds the k-th message of each
    ``external_id``. A producer that retries a send puts the same transaction on the stream
    twice; in one batch the validator would refuse the repeat, across batches it is a
    duplicate: rounds make it a duplicate in both cases (the first one wins, as in the API)."""
    seen: dict[object, int] = {}
    rounds: list[list[int]] = []
    for index, item in enumerate(items):
        key = item.get("external_id")
        occurrence = seen.get(key, 0) if isinstance(key, str) else 0
        if isinstance(key, str):
            seen[key] = occurrence + 1
        while len(rounds) <= occurrence:
            rounds.append([])
        rounds[occurrence].append(index)
    return rounds


def _store_isolated(
    items: list[dict[str, Any]], owners: list[StreamMessage], outcome: StoreResult
) -> tuple[int, int, dict[int, dict[str, Any]]]:
    """Store each item on its own after its batch failed for a reason other than an outage."""
    accepted = duplicates = 0
    invalid: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(items):
        try:
            one_accepted, one_duplicates, one_invalid = _submit([item])
        except DATABASE_OUTAGE_ERRORS:
            raise
        except Exception as exc:
            logger.exception("Message %s could not be stored", owners[index].message_id)
            outcome.dead_letters.append(
                DeadLetter(
                    owners[index],
                    DeadReason.STORE_ERROR,
                    f"It could not be stored: {type(exc).__name__}: {exc}"[:REASON_MAX_CHARS],
                )
            )
            continue
        accepted += one_accepted
        duplicates += one_duplicates
        if one_invalid:
            invalid[index] = one_invalid[0]
    return accepted, duplicates, invalid


def store_messages(*, messages: list[StreamMessage], max_payload_bytes: int) -> StoreResult:
    """Decode ``messages`` and store their transactions; everything else becomes a dead letter.

    Database outages propagate (the caller retries the whole batch). Any other failure of the
    batch is isolated: each message is then stored on its own, and one that still fails alone is
    dead-lettered with the error, so one bad row never blocks the stream.
    """
    outcome = StoreResult()
    items: list[dict[str, Any]] = []
    owners: list[StreamMessage] = []
    max_depth = settings.INGEST_MAX_JSON_DEPTH
    for message in messages:
        if message.deleted:
            outcome.dead_letters.append(
                DeadLetter(
                    message,
                    DeadReason.DELETED,
                    "The entry was deleted from the stream (trimmed) before it was acknowledged; "
                    "its content is lost. Check the producer's MAXLEN against the consumer lag.",
                )
            )
            continue
        try:
            item = decode_payload(message.payload, max_bytes=max_payload_bytes, max_depth=max_depth)
        except MessageDecodeError as exc:
            outcome.dead_letters.append(DeadLetter(message, exc.code, exc.reason))
            continue
        items.append(item)
        owners.append(message)
    invalid: dict[int, dict[str, Any]] = {}
    for indexes in _rounds(items):
        round_items = [items[i] for i in indexes]
        round_owners = [owners[i] for i in indexes]
        try:
            accepted, duplicates, round_invalid = _submit(round_items)
        except DATABASE_OUTAGE_ERRORS:
            raise
        except Exception:
            logger.exception(
                "Storing a batch of %d failed; storing its messages one by one", len(round_items)
            )
            accepted, duplicates, round_invalid = _store_isolated(
                round_items, round_owners, outcome
            )
        outcome.accepted += accepted
        outcome.duplicates += duplicates
        invalid.update({indexes[i]: errors for i, errors in round_invalid.items()})
    for index, errors in sorted(invalid.items()):
        outcome.dead_letters.append(
            DeadLetter(owners[index], DeadReason.INVALID, _errors_sentence(errors), errors)
        )
    return outcome


def _discard_connection() -> None:
    """Drop a database connection an outage broke, so the next attempt opens a fresh one."""
    try:
        connection.close()
    except Exception:
        logger.debug("Closing the broken database connection failed", exc_info=True)


class StreamConsumer:
    """Reads, stores and settles batches from one ``StreamSource`` until ``stop`` is set."""

    def __init__(
        self,
        *,
        source: StreamSource,
        batch_size: int,
        block_ms: int,
        max_deliveries: int,
        max_payload_bytes: int,
        backoff_max_seconds: float,
        backlog_every_seconds: float = 5.0,
        stop: threading.Event | None = None,
    ):
        self.source = source
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.max_payload_bytes = max_payload_bytes
        self.backoff_max_seconds = backoff_max_seconds
        self.backlog_every_seconds = backlog_every_seconds
        self.stop = stop or threading.Event()
        self._backlog_due = 0.0
        self._stream = {"stream": source.stream}
        # Since start: consumed, stored, duplicates, dead_letters (printed when the command ends).
        self.totals: TallyCounter[str] = TallyCounter()

    def run(self) -> None:
        """Consume until a stop is requested; the batch in hand is finished and settled first."""
        try:
            while not self.stop.is_set():
                self.run_once()
        except ConsumerStopped as exc:
            logger.warning(
                "Stopped during an outage: %s; the batch in hand, if any, stays unacknowledged "
                "for the next consumer",
                exc,
            )
        finally:
            self.source.close()

    def run_once(self) -> BatchOutcome | None:
        """Read one batch and process it; None when nothing arrived within ``block_ms``."""
        try:
            messages = self.retry(
                "read",
                lambda: self.source.read(count=self.batch_size, block_ms=self.block_ms),
                self.source.transient_errors,
            )
        except ConsumerStopped:
            return None
        self._observe_backlog()
        if not messages:
            return None
        return self.process(messages)

    def process(self, messages: list[StreamMessage]) -> BatchOutcome:
        """Store ``messages`` (retrying outages) and settle them once the commit is done."""
        if connection.in_atomic_block:
            # Inside an open transaction "stored" would not be committed yet when we acknowledge.
            raise RuntimeError("The stream consumer must not run inside a database transaction.")
        started = time.monotonic()
        dead: list[DeadLetter] = []
        to_store: list[StreamMessage] = []
        for message in messages:
            if self.max_deliveries and message.deliveries > self.max_deliveries:
                dead.append(
                    DeadLetter(
                        message,
                        DeadReason.MAX_DELIVERIES,
                        f"Delivered {message.deliveries} times without being acknowledged "
                        f"(more than {self.max_deliveries}): consumers died or failed while "
                        "holding it each time.",
                    )
                )
            else:
                to_store.append(message)

        def attempt() -> StoreResult:
            close_old_connections()
            try:
                return store_messages(messages=to_store, max_payload_bytes=self.max_payload_bytes)
            except DATABASE_OUTAGE_ERRORS:
                _discard_connection()
                raise

        stored = self.retry(
            "store",
            attempt,
            DATABASE_OUTAGE_ERRORS,
            while_waiting=lambda: self.source.keepalive(messages),
        )
        dead.extend(stored.dead_letters)
        position = {message.message_id: index for index, message in enumerate(messages)}
        dead.sort(key=lambda letter: position[letter.message.message_id])
        # The transaction above has committed: only now may the broker forget these messages.
        self.retry(
            "settle",
            lambda: self.source.settle(messages=messages, dead_letters=dead),
            self.source.transient_errors,
        )
        outcome = BatchOutcome(
            consumed=len(messages),
            stored=stored.accepted,
            duplicates=stored.duplicates,
            dead_letters=dead,
            seconds=time.monotonic() - started,
        )
        self._record(outcome)
        return outcome

    def _record(self, outcome: BatchOutcome) -> None:
        self.totals.update(
            consumed=outcome.consumed,
            stored=outcome.stored,
            duplicates=outcome.duplicates,
            dead_letters=len(outcome.dead_letters),
        )
        messages = metrics.STREAM_MESSAGES
        messages.labels(**self._stream, outcome="stored").inc(outcome.stored)
        messages.labels(**self._stream, outcome="duplicate").inc(outcome.duplicates)
        messages.labels(**self._stream, outcome="dead").inc(len(outcome.dead_letters))
        for letter in outcome.dead_letters:
            logger.warning(
                "Dead-lettered %s (%s): %s", letter.message.message_id, letter.code, letter.reason
            )
        metrics.STREAM_BATCH_SECONDS.labels(**self._stream).observe(outcome.seconds)
        logger.info(
            "Batch of %d from %s: %d stored, %d duplicates, %d dead-lettered (%.2f s)",
            outcome.consumed,
            self.source.stream,
            outcome.stored,
            outcome.duplicates,
            len(outcome.dead_letters),
            outcome.seconds,
        )

    def _observe_backlog(self) -> None:
        now = time.monotonic()
        if now < self._backlog_due:
            return
        self._backlog_due = now + self.backlog_every_seconds
        try:
            lag, pending = self.source.backlog()
        except self.source.transient_errors:
            logger.debug("Could not read the consumer lag", exc_info=True)
            return
        labels = {**self._stream, "group": self.source.group}
        if lag is not None:
            metrics.STREAM_LAG.labels(**labels).set(lag)
        if pending is not None:
            metrics.STREAM_PENDING.labels(**labels).set(pending)

    def retry(
        self,
        what: str,
        call: Callable[[], T],
        errors: tuple[type[BaseException], ...],
        while_waiting: Callable[[], None] | None = None,
    ) -> T:
        """``call()`` until it succeeds, backing off (capped, with jitter) on ``errors``; once a
        stop is requested, the next failure ends it with ``ConsumerStopped``. ``what`` names the
        step in logs and in the retries metric."""
        attempt = 0
        while True:
            try:
                return call()
            except errors as exc:
                attempt += 1
                if self.stop.is_set():
                    raise ConsumerStopped(
                        f"{what} failed after the stop request ({type(exc).__name__}: {exc})"
                    ) from exc
                delay = min(self.backoff_max_seconds, 0.5 * 2 ** min(attempt - 1, 16))
                delay *= random.uniform(0.5, 1.0)  # jitter: consumers do not retry in lockstep
                metrics.STREAM_RETRIES.labels(**self._stream, operation=what).inc()
                logger.warning(
                    "%s failed (%s: %s); attempt %d, retrying in %.1f s",
                    what,
                    type(exc).__name__,
                    exc,
                    attempt,
                    delay,
                )
                if while_waiting is not None:
                    try:
                        while_waiting()
                    except self.source.transient_errors:
                        logger.debug("keepalive failed", exc_info=True)
                self.stop.wait(delay)
