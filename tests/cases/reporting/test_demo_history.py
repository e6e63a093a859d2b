"""The demo's case history: real services, several people, 30 days, idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from core.models import AuditEvent
from fraudcases.management.demo_history import PREFIX, demo_case_history_seed
from fraudcases.models import Case, QAReview
from fraudcases.reporting.dashboard import dashboard_charts
from fraudcases.reporting.filters import default_filters

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_seeded_history_fills_the_charts_through_the_services(champion, roles, make_user):
    worked = demo_case_history_seed(password="pw-for-tests-only", days=20, accounts=250)
    assert worked > 5
    cases = Case.objects.filter(account_id__startswith=PREFIX)
    assert cases.count() == worked
    closed = cases.filter(status=Case.Status.CLOSED)
    assert closed.count() >= worked // 2
    # Spread over the period (moved case rows), not all opened today.
    days = {c.created_at.date() for c in cases}
    assert len(days) >= 5
    assert min(c.created_at for c in cases) < timezone.now() - timedelta(days=7)
    # Worked by several people, each step audited under their name.
    actors = set(
        AuditEvent.objects.filter(case__in=cases, action="case.close").values_list(
            "actor_label", flat=True
        )
    ) | set(
        AuditEvent.objects.filter(case__in=cases, action="case.request_closure").values_list(
            "actor_label", flat=True
        )
    )
    assert len(actors) >= 2
    assert AuditEvent.objects.filter(case__in=cases, action="case.open").count() == worked
    assert QAReview.objects.filter(case__in=cases).exists()
    assert set(closed.values_list("disposition", flat=True)) >= {"fraud_confirmed"}

    cache.clear()
    charts = dashboard_charts(user=make_user("auditor", "aud"), filters=default_filters())
    for name in ("volume", "score_bands", "case_flow", "handling", "dispositions", "heatmap"):
        assert any(any(v for v in row[1:]) for row in charts[name]["rows"]), name
    events = AuditEvent.objects.count()
    assert demo_case_history_seed(password="pw-for-tests-only", days=20, accounts=250) == 0
    assert AuditEvent.objects.count() == events
    cache.clear()
