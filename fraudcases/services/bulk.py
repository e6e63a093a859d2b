"""Bulk actions on cases: all or nothing, one refused case refuses the batch, naming it.

The bulk actions and what each runs per case are declared in ``fraudcases.workflow``
(``BULK_ACTIONS``); :func:`cases_bulk_run` runs any of them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from core.errors import ApplicationError
from core.permissions import ensure_allowed

from ..models import Case
from ..workflow import BULK_BY_SLUG
from ._common import _required_text

User = AbstractBaseUser
# Largest primary key the database can hold (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def _case_ids(case_ids: list[Any]) -> list[int]:
    ids = set()
    bad = []
    for raw in case_ids:
        text = str(raw).strip()
        if not text.isdigit() or not 0 < int(text) <= MAX_ID:
            bad.append(text[:30])
        else:
            ids.add(int(text))
    if bad:
        raise ApplicationError(
            f"Not a case number: {', '.join(repr(b) for b in bad[:5])}.", {"cases": bad[:5]}
        )
    return sorted(ids)


def _bulk_cases(case_ids: list[Any], actor: User) -> list[Case]:
    ensure_allowed(actor, "case.bulk")
    ids = _case_ids(case_ids)
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


@transaction.atomic
def cases_bulk_run(*, slug: str, case_ids: list[Any], actor: User, data: dict) -> list[Any]:
    """Run the bulk action ``slug`` on every case, or on none: the first refusal undoes the
    batch and names the case. Returns each case's service result, in case id order."""
    bulk = BULK_BY_SLUG.get(slug)
    if bulk is None:
        raise ApplicationError(f"Unknown bulk action '{slug}'.", {"action": ["Unknown."]})
    for spec in bulk.inputs:
        if spec.kind == "text":
            _required_text(data.get(spec.name), spec.name, spec.label)
        elif data.get(spec.name) in (None, ""):
            raise ApplicationError(f"{spec.label} is required.", {spec.name: ["Required."]})
    cases = _bulk_cases(case_ids, actor)
    action_data = bulk.data(data)
    results = []
    for case in cases:
        try:
            results.append(bulk.case_action.run(case=case, actor=actor, data=action_data))
        except ApplicationError as exc:
            raise type(exc)(
                f"Case #{case.pk}: {exc.message} Nothing was changed.", exc.extra
            ) from exc
    return results


@transaction.atomic
def cases_bulk_assign(*, case_ids: list[Any], actor: User, assignee: User) -> list[Case]:
    """Assign many cases at once."""
    return cases_bulk_run(
        slug="assign", case_ids=case_ids, actor=actor, data={"assignee": assignee}
    )


@transaction.atomic
def cases_bulk_tag(*, case_ids: list[Any], actor: User, tag: str) -> list[Case]:
    """Put one tag on many cases."""
    cases_bulk_run(slug="tag", case_ids=case_ids, actor=actor, data={"tag": tag})
    return list(Case.objects.filter(pk__in=_case_ids(case_ids)).order_by("pk"))


@transaction.atomic
def cases_bulk_close_legitimate(*, case_ids: list[Any], actor: User, note: str) -> list[Case]:
    """Close many cases as legitimate with one note (four-eyes still applies per case)."""
    return cases_bulk_run(
        slug="close_legitimate", case_ids=case_ids, actor=actor, data={"note": note}
    )
