"""What a scoring batch hands on: the risky transactions it found, per account.

Scoring does not know what a case is. After a batch is scored, in the same database
transaction, its hits go to the handler named by the ``SCORING_HITS_HANDLER`` setting (the case
domain's ``fraudcases.services.opening.cases_open_or_attach``), resolved once by name so this
app imports nothing above it; a system check (``scoring.checks``) refuses to start when the
name does not resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass
class CaseHit:
    """Risky transactions of one account found by one scoring batch."""

    account_id: str
    transaction_ids: list[int] = field(default_factory=list)
    risk_score: float = 0.0
    risk_level: str = "high"
    reasons: list[str] = field(default_factory=list)
    model_version: str = ""


HitsHandler = Callable[..., Sequence[Any]]


@cache
def _handler(path: str) -> HitsHandler:
    return import_string(path)


def hits_hand_on(*, hits: list[CaseHit]) -> Sequence[Any]:
    """Give a batch's hits to the configured handler; returns what it opened or updated."""
    if not hits:
        return []
    return _handler(settings.SCORING_HITS_HANDLER)(hits=hits)
