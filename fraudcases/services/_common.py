"""Helpers shared by the case services: system actor labels, SLA windows, required text."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.errors import ApplicationError

from ..models import Case, Note

SYSTEM_WORKER = "system:scoring-worker"
SYSTEM_SLA = "system:sla-monitor"
LEVEL_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def _sla_due(priority: str):
    hours = settings.CASE_SLA_HOURS.get(priority, settings.CASE_SLA_HOURS["low"])
    return timezone.now() + timedelta(hours=hours)


def _required_text(value: str | None, field_name: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ApplicationError(f"{what} is required.", {field_name: [f"{what} is required."]})
    if len(text) > 10_000:
        raise ApplicationError(f"{what} is too long.", {field_name: ["At most 10,000 characters."]})
    return text


def _add_note(*, case: Case, actor, body: str) -> Note:
    return Note.objects.create(case=case, author=actor, body=body)
