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
from collections.abc import Callable
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

    def _guarded(self, operation: str, call: Callable[..., Any], fallback: Any, *args) -> Any:
        try:
            return call(*args)
        except UNREACHABLE as exc:
            self._unreachable(operation, exc)
            return fallback

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        return self._guarded("get", super().get, default, key, default, version)

    def get_many(self, keys, version: int | None = None) -> dict[str, Any]:
        return self._guarded("get_many", super().get_many, {}, keys, version)

    def has_key(self, key: str, version: int | None = None) -> bool:
        return self._guarded("has_key", super().has_key, False, key, version)

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version=None) -> None:
        self._guarded("set", super().set, None, key, value, timeout, version)

    def set_many(self, data, timeout: Any = DEFAULT_TIMEOUT, version=None) -> list[str]:
        return self._guarded("set_many", super().set_many, list(data), data, timeout, version)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version=None) -> bool:
        return self._guarded("add", super().add, False, key, value, timeout, version)

    def delete(self, key: str, version: int | None = None) -> bool:
        return self._guarded("delete", super().delete, False, key, version)
