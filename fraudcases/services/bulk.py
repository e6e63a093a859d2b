"""Bulk actions on cases: all or nothing, one refused case refuses the batch, naming it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from ..errors import ApplicationError
from ..models import Case
from ..permissions import ensure_allowed
from ._common import _required_text
from .evidence import case_tags_update
from .transitions import case_assign, case_close


def _bulk_cases(case_ids: list[int], actor) -> list[Case]:
    ensure_allowed(actor, "case.bulk")
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        raise ApplicationError("Select at least one case.", {"cases": ["Select at least one."]})
    if len(ids) > settings.CASE_BULK_MAX:
        raise ApplicationError(
            f"At most {settings.CASE_BULK_MAX} cases at once.", {"cases": ["Too many."]}
        )
    cases = list(Case.objects.filter(pk__in=ids))
    missing = sorted(set(ids) - {c.pk for c in cases})
    if missing:
        raise ApplicationError(
            f"Case(s) {', '.join(f'#{m}' for m in missing)} do not exist.", {"cases": missing}
        )
    return cases


def _bulk(cases: list[Case], run) -> list[Any]:
    results = []
    for case in cases:
        try:
            results.append(run(case))
        except ApplicationError as exc:
            raise type(exc)(
                f"Case #{case.pk}: {exc.message} Nothing was changed.", exc.extra
            ) from exc
    return results


@transaction.atomic
def cases_bulk_assign(*, case_ids: list[int], actor, assignee) -> list[Case]:
    """Assign many cases at once."""
    cases = _bulk_cases(case_ids, actor)
    return _bulk(cases, lambda c: case_assign(case=c, actor=actor, assignee=assignee))


@transaction.atomic
def cases_bulk_tag(*, case_ids: list[int], actor, tag: str) -> list[Case]:
    """Put one tag on many cases."""
    cases = _bulk_cases(case_ids, actor)
    _bulk(cases, lambda c: case_tags_update(case=c, actor=actor, add=[tag]))
    return cases


@transaction.atomic
def cases_bulk_close_legitimate(*, case_ids: list[int], actor, note: str) -> list[Case]:
    """Close many cases as legitimate with one note (four-eyes still applies per case)."""
    _required_text(note, "note", "A closing note")
    cases = _bulk_cases(case_ids, actor)
    return _bulk(
        cases,
        lambda c: case_close(
            case=c, actor=actor, disposition=Case.Disposition.LEGITIMATE, note=note
        ),
    )
