"""Helpers of the stream consumer tests: producing messages, reading what the consumer left."""

from __future__ import annotations

import os
from datetime import timedelta

import redis
from django.utils import timezone

from scoring.streams.messages import encode_transaction

REDIS_URL = os.environ.get("STREAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def transaction_item(n: int, **overrides) -> dict:
    """A valid transaction as a producer sends it (JSON types only)."""
    item = {
        "external_id": f"st-{n:05d}",
        "account_id": f"acct-{n % 7:03d}",
        "amount": f"{10 + n}.25",
        "currency": "EUR",
        "occurred_at": (timezone.now() - timedelta(minutes=n)).isoformat(),
        "merchant_id": f"m-{n % 3}",
        "country": "DE",
    }
    item.update(overrides)
    return item


def publish(client, stream: str, items: list) -> list[str]:
    """XADD one message per item, all in one MULTI (a consumer sees them arrive together): a
    dict becomes JSON in ``data``; bytes are sent verbatim."""
    pipe = client.pipeline(transaction=True)
    for item in items:
        pipe.xadd(stream, {"data": item if isinstance(item, bytes) else encode_transaction(item)})
    return [entry_id.decode() for entry_id in pipe.execute()]


def dead_letters(client, stream: str, suffix: str = ".dead") -> list[dict[str, bytes]]:
    """The dead-letter entries of ``stream``, fields decoded as text where they are keys."""
    return [
        {key.decode(): value for key, value in fields.items()}
        for _, fields in client.xrange(stream + suffix)
    ]


def pending_count(client, stream: str, group: str = "fraudcases") -> int:
    """Messages delivered to the group and not acknowledged; -1 while the group does not exist."""
    try:
        return int(client.xpending(stream, group)["pending"])
    except redis.exceptions.ResponseError as exc:
        if "NOGROUP" in str(exc):
            return -1
        raise
