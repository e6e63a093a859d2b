"""Redis Streams as a ``StreamSource``: a consumer group, XAUTOCLAIM, and a dead-letter stream.

Reading order, each time the loop asks for a batch:

1. this consumer's own pending entries (``XREADGROUP ... 0``): what it read but had not
   acknowledged before a restart under the same ``--consumer`` name;
2. entries pending for longer than ``claim_min_idle_ms`` with any consumer (``XAUTOCLAIM``):
   the batches of consumers that died; scanned again every ``claim_every_seconds``;
3. new entries (``XREADGROUP ... >``), waiting up to ``block_ms``.

Settling a batch is one ``MULTI``: ``XADD`` of its dead letters to ``<stream>.dead``, then
``XACK`` of all its entries, so a dead letter is written exactly when its message is
acknowledged. While a batch waits for the database, ``XCLAIM ... JUSTID`` resets its idle time
(without counting a delivery), so no other consumer takes it from a live one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from . import metrics
from .messages import DATA_FIELD, DeadLetter, StreamMessage

logger = logging.getLogger(__name__)

_DATA = DATA_FIELD.encode()
# Errors after which trying again later makes sense (connection lost, timeout, restarting or
# read-only while a replica is promoted).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.BusyLoadingError,
)


def redis_client(url: str, *, block_ms: int) -> redis.Redis:
    """A client for the consumer: bytes in and out, a read timeout longer than a blocking read."""
    return redis.Redis.from_url(
        url,
        socket_timeout=block_ms / 1000 + 10,
        socket_connect_timeout=5,
        health_check_interval=30,
        decode_responses=False,
    )


def default_consumer_name() -> str:
    """``<host>-<pid>``: unique per process; a restart under a new name leaves the old pending
    entries to XAUTOCLAIM, a fixed ``--consumer`` name resumes them directly."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamSource:
    """One consumer of one consumer group on one stream (see the module docstring)."""

    label = "redis"
    transient_errors = TRANSIENT_ERRORS

    def __init__(
        self,
        *,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        dead_letter_stream: str,
        claim_min_idle_ms: int,
        claim_every_seconds: float | None = None,
    ):
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.dead_letter_stream = dead_letter_stream
        self.claim_min_idle_ms = claim_min_idle_ms
        self.claim_every_seconds = (
            claim_every_seconds
            if claim_every_seconds is not None
            else max(0.5, min(30.0, claim_min_idle_ms / 2000))
        )
        self._own_cursor: bytes | None = b"0"  # None once our own pending entries are read
        self._claim_cursor = b"0-0"
        self._claim_due = 0.0

    def ensure_group(self) -> bool:
        """Create the group (and the stream) if missing, from the stream's first entry, so what
        producers sent before the first consumer started is consumed too. True if created."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        logger.info("Created consumer group %r on stream %r", self.group, self.stream)
        return True

    # --- reading -------------------------------------------------------------------------------

    def read(self, *, count: int, block_ms: int) -> list[StreamMessage]:
        """The next batch: our own pending entries, then claimable ones, then new ones."""
        try:
            return self._read(count=count, block_ms=block_ms)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or the group was deleted under us (e.g. FLUSHDB): recreate, read again.
            logger.warning(
                "Consumer group %r is gone from %r; recreating it", self.group, self.stream
            )
            self.ensure_group()
            self._own_cursor, self._claim_cursor = b"0", b"0-0"
            return self._read(count=count, block_ms=block_ms)

    def _read(self, *, count: int, block_ms: int) -> list[StreamMessage]:
        if self._own_cursor is not None:
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: self._own_cursor}, count=count
            )
            entries = reply[0][1] if reply else []
            if entries:
                self._own_cursor = entries[-1][0]
                logger.info(
                    "Re-reading %d entries this consumer had not acknowledged", len(entries)
                )
                return self._with_deliveries(entries)
            self._own_cursor = None
        if time.monotonic() >= self._claim_due:
            claimed = self._claim(count=count)
            if claimed:
                return claimed
        reply = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        entries = reply[0][1] if reply else []
        return [self._message(entry_id, fields, deliveries=1) for entry_id, fields in entries]

    def _claim(self, *, count: int) -> list[StreamMessage]:
        """Take over entries idle longer than ``claim_min_idle_ms`` (their consumer is dead)."""
        reply = self.client.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            self.claim_min_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        cursor, entries = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        self._claim_cursor = cursor
        if cursor in (b"0-0", "0-0"):  # scanned the whole pending list: rest until next time
            self._claim_due = time.monotonic() + self.claim_every_seconds
        messages = self._with_deliveries(entries) if entries else []
        # Redis drops pending entries whose content was trimmed away; report them as dead.
        messages += [
            StreamMessage(message_id=_text(entry_id), payload=None, deleted=True)
            for entry_id in deleted
        ]
        if messages:
            metrics.STREAM_CLAIMED.labels(stream=self.stream).inc(len(messages))
            logger.warning(
                "Claimed %d entries idle for more than %d ms from other consumers",
                len(messages),
                self.claim_min_idle_ms,
            )
        return messages

    def _with_deliveries(self, entries: list[tuple[bytes, dict]]) -> list[StreamMessage]:
        """Entries with their delivery counts from the pending list (XPENDING)."""
        pending = self.client.xpending_range(
            self.stream,
            self.group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries),
            consumername=self.consumer,
        )
        counts = {_text(row["message_id"]): int(row["times_delivered"]) for row in pending}
        return [
            self._message(entry_id, fields, deliveries=counts.get(_text(entry_id), 1))
            for entry_id, fields in entries
        ]

    @staticmethod
    def _message(entry_id: bytes, fields: dict | None, *, deliveries: int) -> StreamMessage:
        if not fields:  # still pending, but its content was trimmed from the stream
            return StreamMessage(message_id=_text(entry_id), payload=None, deleted=True)
        return StreamMessage(
            message_id=_text(entry_id),
            payload=fields.get(_DATA),
            fields=dict(fields),
            deliveries=deliveries,
        )

    # --- while waiting, and settling -----------------------------------------------------------

    def keepalive(self, messages: list[StreamMessage]) -> None:
        """Reset the idle time of our pending entries (no delivery counted): we are alive."""
        ids = [m.message_id for m in messages if not m.deleted]
        if ids:
            self.client.xclaim(self.stream, self.group, self.consumer, 0, ids, justid=True)

    def settle(self, *, messages: list[StreamMessage], dead_letters: list[DeadLetter]) -> None:
        """One MULTI/EXEC: add the dead letters to the dead-letter stream, acknowledge the batch."""
        pipe = self.client.pipeline(transaction=True)
        for letter in dead_letters:
            pipe.xadd(self.dead_letter_stream, self.dead_letter_fields(letter))
        ids = [m.message_id for m in messages]
        if ids:
            pipe.xack(self.stream, self.group, *ids)
        pipe.execute()

    def dead_letter_fields(self, letter: DeadLetter) -> dict[str, Any]:
        """The dead-letter entry: the reason, the original payload byte for byte, and where it
        came from (enough to inspect it and to ``XADD`` the payload back once fixed)."""
        message = letter.message
        fields: dict[str, Any] = {
            "reason_code": letter.code.value,
            "reason": letter.reason,
            "errors": orjson.dumps(letter.errors),
            DATA_FIELD: message.payload or b"",
            "source_stream": self.stream,
            "source_id": message.message_id,
            "group": self.group,
            "consumer": self.consumer,
            "deliveries": message.deliveries,
            "dead_at": datetime.now(UTC).isoformat(),
        }
        others = {
            key.decode("utf-8", "backslashreplace"): value.decode("utf-8", "backslashreplace")
            for key, value in message.fields.items()
            if key != _DATA
        }
        if others:
            fields["other_fields"] = orjson.dumps(others)
        return fields

    # --- observing -----------------------------------------------------------------------------

    def backlog(self) -> tuple[int | None, int | None]:
        """(lag, pending) of our group from ``XINFO GROUPS``; lag is None when Redis cannot
        tell (after entries were deleted from the middle of the stream)."""
        for group in self.client.xinfo_groups(self.stream):
            if _text(group["name"]) == self.group:
                lag = group.get("lag")
                return (int(lag) if lag is not None else None), int(group["pending"])
        return None, None

    def close(self) -> None:
        self.client.close()
