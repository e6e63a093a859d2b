"""Celery task of the quality review (registered through ``CELERY_IMPORTS``)."""

from __future__ import annotations

from celery import shared_task

from .services import qa_sample_closures


@shared_task(name="fraudcases.qa_sample_closures", time_limit=300, soft_time_limit=240)
def qa_sample_closures_task() -> int:
    """Beat task: sample the last ``QA_SWEEP_DAYS`` days of closures into the review queue.
    Idempotent (one review per closure); returns how many closures were added. No retries:
    the next beat run is the retry."""
    return len(qa_sample_closures())
