"""The beat task that folds new and changed transactions into the dashboard's rollups."""

from __future__ import annotations

from celery import shared_task

from .rollup import rollup_refresh


@shared_task(
    name="fraudcases.rollup_refresh",
    acks_late=True,
    max_retries=0,  # the next beat tick is the retry; a fold is idempotent
    soft_time_limit=240,
    time_limit=300,
)
def rollup_refresh_task() -> int:
    """Fold the dirty days into the rollups; the number of local days recomputed."""
    return rollup_refresh()
