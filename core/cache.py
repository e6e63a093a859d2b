"""The shared cache, degrading to "no cache" while its Redis is unreachable.

The cache holds nothing that must survive: API throttling counts and the dashboard's
briefly-cached aggregates. When the Redis behind it restarts, a request must not fail with a
500 for that (ingestion stores the batch in PostgreSQL and answers 202; the sweeper enqueues its
scoring once the broker is back). So a read answers the default, a write is skipped, and one
warning a minute says so; throttling is not enforced for that time (it fails open, which is the
choice a bank makes for its own authenticated feeds; the API keys still authenticate).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
WARN_EVERY_S = 60.0


class ResilientRedisCache(RedisCache):
    """Django's Redis cache whose reads and writes survive a Redis outage (see the module)."""

    _last_warning: float | None = None

    def _unreachable(self, operation: str, exc: BaseException) -> None:
        now = time.monotonic()
        last = ResilientRedisCache._last_warning
        if last is None or now - last >= WARN_EVERY_S:
            ResilientRedisCache._last_warning = now
            logger.warning(
                "Cache unreachable (%s: %s): serving without it", operation, type(exc).__name__
            )

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except UNREACHABLE as exc:
            self._unreachable("get", exc)
            return default

    def get_many(self, keys, version: int | None = None) -> dict[str, Any]:
        try:
            return super().get_many(keys, version)
        except UNREACHABLE as exc:
            self._unreachable("get_many", exc)
            return {}

    def has_key(self, key: str, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except UNREACHABLE as exc:
            self._unreachable("has_key", exc)
            return False

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("set", exc)

    def set_many(
        self, data, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[str]:
        try:
            return super().set_many(data, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("set_many", exc)
            return list(data)

    def add(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("add", exc)
            return False

    def delete(self, key: str, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except UNREACHABLE as exc:
            self._unreachable("delete", exc)
            return False
