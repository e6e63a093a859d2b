"""The message format shared by the stream consumers (no broker, no database).

One message carries one transaction: a UTF-8 JSON object with exactly the fields of the API's
transaction (``external_id``, ``account_id``, ``amount``, ``occurred_at``, ...).

- Redis Streams: the entry's field ``data``; other fields of the entry are ignored (and kept in
  the dead letter if the message is refused);
- Kafka: the message value; the key (we suggest the account id, so one account's transactions
  stay in order on one partition) and the headers are ignored.

A payload that is missing, too large, not UTF-8, not JSON or not one JSON object cannot be
decoded; a decoded object can still be refused by the validator. Both end in the dead-letter
stream with one of the stable ``DeadReason`` codes and a sentence saying what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from ..schema import json_depth

DATA_FIELD = "data"


class DeadReason(StrEnum):
    """Why a message went to the dead-letter stream: its stable ``reason_code``."""

    MISSING_DATA = "missing_data"  # a Redis entry without a ``data`` field, or an empty value
    TOO_LARGE = "too_large"  # payload over STREAM_MESSAGE_MAX_BYTES
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"  # JSON, but an array, a string, a number or null
    INVALID = "invalid"  # refused by the transaction validator (errors by field)
    MAX_DELIVERIES = "max_deliveries"  # delivered too often without being acknowledged
    STORE_ERROR = "store_error"  # storing this message alone failed (not an outage)
    DELETED = "deleted"  # trimmed from the Redis stream before it was acknowledged: content lost


class MessageDecodeError(Exception):
    """The payload is not one JSON object; ``code`` is a ``DeadReason``."""

    def __init__(self, code: DeadReason, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class StreamMessage:
    """One message as read from a broker.

    ``message_id`` is the Redis entry id, or ``topic/partition/offset`` for Kafka; ``payload``
    the ``data`` field or the Kafka value (``None`` when absent); ``fields`` every field of the
    Redis entry (empty for Kafka), kept for the dead letter; ``deliveries`` how many times the
    broker has handed it out; ``deleted`` that Redis still had it pending but no longer holds its
    content (the stream was trimmed); ``ref`` the broker's own object where the source needs it.
    """

    message_id: str
    payload: bytes | None
    fields: dict[bytes, bytes] = field(default_factory=dict)
    deliveries: int = 1
    deleted: bool = False
    ref: Any = None


@dataclass(frozen=True)
class DeadLetter:
    """A message that cannot be stored, with why: a ``DeadReason`` code, a sentence, and for
    validation failures the validator's errors by field."""

    message: StreamMessage
    code: DeadReason
    reason: str
    errors: dict[str, list[str]] = field(default_factory=dict)


def decode_payload(payload: bytes | None, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """The transaction object carried by ``payload``, or ``MessageDecodeError`` saying why not.

    Parsed like an API request body: strict JSON (orjson: no NaN, no trailing commas, no lone
    surrogates), its nesting checked before parsing (``scoring.schema.json_depth``).
    """
    if not payload:
        raise MessageDecodeError(
            DeadReason.MISSING_DATA,
            f"The message carries nothing: no {DATA_FIELD!r} field (Redis) or no value (Kafka); "
            "it must carry one transaction as a JSON object.",
        )
    if len(payload) > max_bytes:
        raise MessageDecodeError(
            DeadReason.TOO_LARGE,
            f"The payload is {len(payload)} bytes; at most {max_bytes} are accepted.",
        )
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageDecodeError(
            DeadReason.NOT_UTF8, f"The payload is not UTF-8 (invalid byte at offset {exc.start})."
        ) from None
    if json_depth(payload) > max_depth:
        raise MessageDecodeError(
            DeadReason.NOT_JSON, f"The payload nests JSON deeper than {max_depth} levels."
        )
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MessageDecodeError(
            DeadReason.NOT_JSON,
            f"The payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
        ) from None
    if not isinstance(value, dict):
        raise MessageDecodeError(
            DeadReason.NOT_OBJECT,
            f"The payload is {_kind(value)}; one transaction as a JSON object was expected.",
        )
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string"}.get(type(value), "a number")


def encode_transaction(item: dict[str, Any]) -> bytes:
    """The payload for one transaction, as producers should send it (used by tests and docs)."""
    return orjson.dumps(item, default=str)
