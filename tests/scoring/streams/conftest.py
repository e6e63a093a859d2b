"""Fixtures of the stream consumer tests: the real local Redis (db 7 unless
``STREAM_TEST_REDIS_URL`` says otherwise), one stream name per test, valid transaction items."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from scoring.streams.redis_source import RedisStreamSource, redis_client

from .helpers import REDIS_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis; missing, it fails the run in CI and skips these tests elsewhere."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"No Redis at {REDIS_URL} for the stream tests: {exc}")
        pytest.skip(f"No Redis at {REDIS_URL} (set STREAM_TEST_REDIS_URL): {exc}")
    return REDIS_URL


@pytest.fixture
def redis_conn(redis_url):
    client = redis_client(redis_url, block_ms=1000)
    yield client
    client.close()


@pytest.fixture
def stream(redis_conn, settings) -> str:
    """A stream name of this test's own; it and its dead-letter stream are deleted afterwards."""
    name = f"test-transactions-{uuid.uuid4().hex[:12]}"
    yield name
    redis_conn.delete(name, name + settings.STREAM_DEAD_LETTER_SUFFIX)


@pytest.fixture
def make_source(redis_conn, stream, settings):
    """A ``RedisStreamSource`` on the test stream, its group created."""

    def make(consumer: str = "c1", *, claim_min_idle_ms: int = 60_000, claim_every=0.0):
        source = RedisStreamSource(
            client=redis_conn,
            stream=stream,
            group="fraudcases",
            consumer=consumer,
            dead_letter_stream=stream + settings.STREAM_DEAD_LETTER_SUFFIX,
            claim_min_idle_ms=claim_min_idle_ms,
            claim_every_seconds=claim_every,
        )
        source.ensure_group()
        return source

    return make
