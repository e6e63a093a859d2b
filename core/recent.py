"""Values read from the database and reused for a short, caller-given age in this process.

The synchronous ``/score`` must not read the role holders of the model registry, compile every
active rule and look its API key up per request, while a scoring batch reads them afresh
(``max_age=0``). A save or delete of the model they come from, in this process, forgets them at
once; other processes see the change within the age. A rolled-back transaction sends no
signal: tests clear them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.db.models import Model
from django.db.models.signals import post_delete, post_save

V = TypeVar("V")


class RecentlyRead(Generic[V]):
    """Per key, the value ``read`` gave and when; thread-safe (one per process)."""

    def __init__(
        self, *, senders: tuple[type[Model], ...], uid: str, max_items: int = 1024
    ) -> None:
        # A caller whose keys come from outside (an API key's prefix) cannot grow it without
        # bound: past ``max_items`` keys every value is forgotten and read again.
        self.max_items = max_items
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        for sender in senders:
            label = sender._meta.label_lower
            for signal, name in ((post_save, "save"), (post_delete, "delete")):
                signal.connect(
                    self.clear, sender=sender, weak=False, dispatch_uid=f"{uid}.{label}.{name}"
                )

    def clear(self, **_signal) -> None:
        """Forget every value (a receiver of the senders' ``post_save`` / ``post_delete``)."""
        with self._lock:
            self._values.clear()

    def get(self, key: Hashable, *, max_age: float, read: Callable[[], V]) -> V:
        """The value read at most ``max_age`` seconds ago for ``key``, else ``read()`` now."""
        now = time.monotonic()
        with self._lock:
            cached = self._values.get(key)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        value = read()
        with self._lock:
            if key not in self._values and len(self._values) >= self.max_items:
                self._values.clear()
            self._values[key] = (now, value)
        return value
