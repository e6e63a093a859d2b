"""``core.recent.RecentlyRead``: a value is reused within the caller's age, read again after it,
per key, and forgotten when a model it comes from is saved or deleted in this process."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.recent import RecentlyRead
from scoring.models import Rule

pytestmark = pytest.mark.django_db


class _Reads:
    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
        return self.count


def test_reused_within_the_age_and_read_again_after_it(monkeypatch):
    now = [100.0]
    # The module's clock only (patching time.monotonic would stop it for everything else).
    monkeypatch.setattr("core.recent.time", SimpleNamespace(monotonic=lambda: now[0]))
    cache, read = RecentlyRead[int](senders=(), uid="test.recent.age"), _Reads()
    assert cache.get("k", max_age=2.0, read=read) == 1
    now[0] += 1.9
    assert cache.get("k", max_age=2.0, read=read) == 1
    assert cache.get("other", max_age=2.0, read=read) == 2  # per key
    now[0] += 0.2
    assert cache.get("k", max_age=2.0, read=read) == 3
    assert cache.get("k", max_age=0.0, read=read) == 4  # no age: always read


def test_a_save_or_delete_of_a_sender_forgets_every_value():
    cache, read = RecentlyRead[int](senders=(Rule,), uid="test.recent.signals"), _Reads()
    assert cache.get("k", max_age=60, read=read) == 1
    rule = Rule.objects.create(name="r", expression="amount > 1", risk_floor=50)
    assert cache.get("k", max_age=60, read=read) == 2
    assert cache.get("k", max_age=60, read=read) == 2
    rule.delete()
    assert cache.get("k", max_age=60, read=read) == 3


def test_past_max_items_keys_every_value_is_read_again():
    cache, read = RecentlyRead[int](senders=(), uid="test.recent.bound", max_items=3), _Reads()
    for key in "abc":
        cache.get(key, max_age=60, read=read)
    assert cache.get("a", max_age=60, read=read) == 1
    assert cache.get("d", max_age=60, read=read) == 4  # a fourth key: the rest forgotten
    assert len(cache._values) == 1
    assert cache.get("a", max_age=60, read=read) == 5
