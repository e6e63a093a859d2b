"""Get-next under contention: investigators pressing it at once never get the same case."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_claims_never_share_a_case(make_user):
    workers = 8
    investigators = [make_user("investigator", f"inv{i}") for i in range(workers)]
    cases = [CaseFactory(priority="critical" if i % 2 else "high") for i in range(5)]
    barrier = threading.Barrier(workers)
    results: dict[int, int | None] = {}
    errors: list[BaseException] = []

    def claim(user_id: int) -> None:
        try:
            user = get_user_model().objects.get(pk=user_id)
            barrier.wait(timeout=10)
            case = services.case_claim_next(actor=user)
            results[user_id] = case.pk if case else None
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u.pk,)) for u in investigators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    claimed = [pk for pk in results.values() if pk is not None]
    assert len(results) == workers
    assert len(claimed) == len(set(claimed)) == len(cases)
    assert sorted(claimed) == sorted(c.pk for c in cases)
    for case in Case.objects.filter(pk__in=claimed):
        assert case.status == Case.Status.IN_REVIEW
        assert results[case.assignee_id] == case.pk
    assert AuditEvent.objects.filter(action="case.claim").count() == len(cases)
