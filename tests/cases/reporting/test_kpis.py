"""Team KPIs against the hand-computed world of conftest.py (seen from 2026-11-05)."""

from __future__ import annotations

import pytest
from django.test import Client

from fraudcases.reporting.kpis import team_kpis

from .conftest import at

pytestmark = pytest.mark.django_db


def test_per_investigator_and_team_figures(world, make_user):
    kpis = team_kpis(user=world["users"]["sam"], days=30, now=at(5, 0))
    people = {p.username: p for p in kpis["people"]}
    ivy, mx, sam = people["ivy"], people["max"], people["sam"]
    # ivy closed c1 (24 h, after its due time) and c2 (6 h); c3 is hers, open and overdue.
    assert (ivy.closed, ivy.closed_per_day, ivy.median_handling_hours) == (2, 0.07, 15.0)
    assert (ivy.closed_late, ivy.open_load, ivy.overdue_open, ivy.sla_breaches) == (1, 1, 1, 2)
    assert ivy.escalation_rate == 0.0
    assert ivy.dispositions == {
        "fraud_confirmed": 1,
        "legitimate": 1,
        "inconclusive": 0,
        "merged": 0,
    }
    assert (ivy.reviewed, ivy.overturned, ivy.overturn_rate) == (2, 1, 0.5)
    # max asked for c4's closure (sam approved it): the closure is max's.
    assert (mx.closed, mx.median_handling_hours, mx.escalation_rate) == (1, 10.0, 1.0)
    assert mx.dispositions["inconclusive"] == 1 and mx.overturn_rate == 0.0
    assert sam.closed == 0 and sam.open_load == 0
    team = kpis["team"]
    assert (team.closed, team.median_handling_hours) == (3, 10.0)  # median of 24, 6, 10
    assert team.sla_breaches == 2 and team.escalation_rate == 0.3333
    assert team.overturn_rate == 0.3333
    # Who can take more: most room first (capacity 15).
    assert [(p.username, p.room) for p in kpis["people"]] == [
        ("max", 15),
        ("sam", 15),
        ("ivy", 14),
    ]


def test_only_the_period_counts(world):
    kpis = team_kpis(user=world["users"]["sam"], days=7, now=at(30, 0))
    assert kpis["team"].closed == 0  # every closure is older than 7 days
    assert kpis["team"].open_load == 1  # open load is now, whatever the period


def test_supervisor_page_shows_kpis_and_workload(world, make_user):
    client = Client()
    client.force_login(world["users"]["sam"])
    page = client.get("/supervisor/?days=90")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="team-kpis"' in html and 'id="workload-room"' in html
    assert page.context["kpis"]["days"] == 90
    assert client.get("/supervisor/?days=5").status_code == 400
    assert team_kpis(user=make_user("investigator", "inv"), days=30) is None
