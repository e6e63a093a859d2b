"""The message format: what decodes to one transaction object and why the rest does not."""

from __future__ import annotations

import pytest

from scoring.streams.messages import (
    DeadReason,
    MessageDecodeError,
    decode_payload,
    encode_transaction,
)

LIMITS = {"max_bytes": 1024, "max_depth": 8}


def test_one_json_object_decodes():
    item = {"external_id": "t-1", "amount": "1.00", "metadata": {"a": [1, 2]}}
    assert decode_payload(encode_transaction(item), **LIMITS) == item


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        (None, DeadReason.MISSING_DATA, "no 'data' field (Redis) or no value (Kafka)"),
        (b"", DeadReason.MISSING_DATA, "carries nothing"),
        (b"x" * 1025, DeadReason.TOO_LARGE, "1025 bytes; at most 1024"),
        (b'{"a": "\xff"}', DeadReason.NOT_UTF8, "offset 7"),
        (b"{not json", DeadReason.NOT_JSON, "line 1 column 2"),
        (b'{"amount": NaN}', DeadReason.NOT_JSON, "not JSON"),
        (b'{"a": 1,}', DeadReason.NOT_JSON, "trailing comma"),
        (b'{"a": "\\ud800"}', DeadReason.NOT_JSON, "surrogate"),
        (b"[" * 9 + b"]" * 9, DeadReason.NOT_JSON, "deeper than 8 levels"),
        (b"[]", DeadReason.NOT_OBJECT, "an array"),
        (b'"t-1"', DeadReason.NOT_OBJECT, "a string"),
        (b"12", DeadReason.NOT_OBJECT, "a number"),
        (b"true", DeadReason.NOT_OBJECT, "a boolean"),
        (b"null", DeadReason.NOT_OBJECT, "null"),
    ],
)
def test_undecodable_payloads_say_why(payload, code, words):
    with pytest.raises(MessageDecodeError) as caught:
        decode_payload(payload, **LIMITS)
    assert caught.value.code == code
    assert words in caught.value.reason


def test_deep_nesting_is_refused_before_parsing():
    # Deeper than any JSON parser's recursion limit: refused by the depth check, no RecursionError.
    payload = b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(MessageDecodeError) as caught:
        decode_payload(payload, max_bytes=len(payload), max_depth=8)
    assert caught.value.code == DeadReason.NOT_JSON
