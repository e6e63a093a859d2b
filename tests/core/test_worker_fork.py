"""The Celery worker freezes what it imported before its pool forks (``worker_init``), so the
children keep sharing those pages instead of copying them at their first garbage collection."""

from __future__ import annotations

import gc

from celery import signals

from core import celery_signals


def test_the_worker_freezes_its_objects_before_the_pool_forks():
    receivers = [r() for _, r in signals.worker_init.receivers]
    assert celery_signals._freeze_before_fork in receivers
    gc.unfreeze()
    try:
        celery_signals._freeze_before_fork()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
