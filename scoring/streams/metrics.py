"""Prometheus metrics of the stream consumers.

The shared ones live in ``core.metrics`` (messages by outcome, consumer lag); the ones only
the consumers have are defined here, in the same multiprocess mode, so a consumer's figures show
up in ``/metrics`` on its host next to the web's and the workers'. Throughput is
``rate(fraudcases_stream_messages_total[5m])``.
"""

from __future__ import annotations

# First: importing it chooses prometheus-client's multiprocess mode for this process.
from core.metrics import STREAM_LAG, STREAM_MESSAGES

# isort: split
from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "STREAM_BATCH_SECONDS",
    "STREAM_CLAIMED",
    "STREAM_LAG",
    "STREAM_MESSAGES",
    "STREAM_PENDING",
    "STREAM_RETRIES",
]

STREAM_PENDING = Gauge(
    "fraudcases_stream_pending_messages",
    "Messages delivered to a consumer group but not yet acknowledged (set by live consumers).",
    ["stream", "group"],
    multiprocess_mode="livemax",
)
STREAM_CLAIMED = Counter(
    "fraudcases_stream_claimed_total",
    "Messages taken over from a consumer idle longer than the claim time (XAUTOCLAIM).",
    ["stream"],
)
STREAM_RETRIES = Counter(
    "fraudcases_stream_retries_total",
    "Retries of a consumer step after a database or broker outage (read, store, settle).",
    ["stream", "operation"],
)
STREAM_BATCH_SECONDS = Histogram(
    "fraudcases_stream_batch_duration_seconds",
    "Time from reading a batch to acknowledging it (decode, validate, store, dead letters).",
    ["stream"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
