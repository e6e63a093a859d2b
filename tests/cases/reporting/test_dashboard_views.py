"""The dashboard page, its chart-data endpoint and CSV: filters in the URL, bad input, and
the CSV carrying exactly the rows the chart shows."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from core.models import AuditEvent
from fraudcases.reporting.dashboard import CHARTS

pytestmark = pytest.mark.django_db
QUERY = "from=2026-11-02&to=2026-11-04"


@pytest.fixture
def client_for(make_user):
    def make(role: str, name: str | None = None) -> Client:
        client = Client()
        client.force_login(make_user(role, name or f"{role}-viewer"))
        return client

    return make


def embedded_charts(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="dashboard-data" type="application/json">') + len(
        '<script id="dashboard-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def as_csv_cells(row) -> list[str]:
    return ["" if v is None else str(v) for v in row]


def test_page_embeds_every_chart_for_the_filters_in_the_url(world, client_for):
    client = client_for("investigator")
    response = client.get(f"/dashboard/?{QUERY}&channel=web")
    assert response.status_code == 200
    charts = embedded_charts(response)
    assert set(charts) == {c.name for c in CHARTS}
    assert charts["volume"]["rows"][0] == ["2026-11-02", 3, 2, 1, 0.5]
    html = response.content.decode()
    assert 'data-query="from=2026-11-02&amp;to=2026-11-04&amp;channel=web"' in html
    assert "/dashboard/volume.csv?from=2026-11-02&amp;to=2026-11-04&amp;channel=web" in html
    assert "<script>" not in html  # CSP: no inline script, data in a JSON script tag
    assert "vendor/echarts.min.js" in html and "fraudcases/dashboard.js" in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("name", [c.name for c in CHARTS])
def test_csv_equals_the_chart_data(world, client_for, name):
    client = client_for("supervisor")
    shown = embedded_charts(client.get(f"/dashboard/?{QUERY}"))[name]
    response = client.get(f"/dashboard/{name}.csv?{QUERY}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"{name}_2026-11-02_2026-11-04.csv" in response["Content-Disposition"]
    got = csv_rows(response)
    assert got[0] == shown["columns"]
    assert got[1:] == [as_csv_cells(r) for r in shown["rows"]]


def test_chart_data_endpoint_matches_the_page(world, client_for):
    client = client_for("auditor")
    page = embedded_charts(client.get(f"/dashboard/?{QUERY}&country=GB"))
    data = client.get(f"/dashboard/data.json?{QUERY}&country=GB").json()
    assert data["charts"] == page
    assert data["query"] == "from=2026-11-02&to=2026-11-04&country=GB"
    assert data["tiles"]["open_cases"] == "1"


def test_csv_cells_cannot_run_as_formulas(world, client_for):
    t = world["t"]["t1"]  # the fraud of its merchant, so the merchant is ranked
    t.merchant_id = '=HYPERLINK("http://x")'
    t.save(update_fields=["merchant_id"])
    client = client_for("investigator")
    rows = csv_rows(client.get(f"/dashboard/top_merchants.csv?{QUERY}"))
    merchants = [r[0] for r in rows[1:]]
    assert '\'=HYPERLINK("http://x")' in merchants
    assert not any(m.startswith(("=", "+", "-", "@")) for m in merchants)


def test_csv_export_is_audited(world, client_for):
    client = client_for("auditor", "aud")
    client.get(f"/dashboard/backlog.csv?{QUERY}")
    event = AuditEvent.objects.get(action="dashboard.export")
    assert event.actor_label == "user:aud"
    assert event.after["chart"] == "backlog" and event.after["rows"] == 4


@pytest.mark.parametrize(
    "query,field",
    [
        ("from=2026-11-05&to=2026-11-01", "to"),
        ("from=yesterday", "from"),
        ("country=USA", "country"),
        ("risk=extreme", "risk"),
        ("channel=%3Cscript%3E", "channel"),
        ("from=2020-01-01&to=2026-01-01", "to"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(world, client_for, query, field):
    client = client_for("investigator")
    page = client.get(f"/dashboard/?{query}")
    assert page.status_code == 400
    assert f"{field}:" in page.content.decode()
    data = client.get(f"/dashboard/data.json?{query}")
    assert data.status_code == 400 and field in data.json()["errors"]
    assert client.get(f"/dashboard/volume.csv?{query}").status_code == 400


def test_unknown_chart_is_404_and_roles_are_checked(world, client_for, make_user):
    assert client_for("investigator").get("/dashboard/nope.csv").status_code == 404
    anonymous = Client().get("/dashboard/data.json")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    nobody = Client()
    nobody.force_login(make_user(None, "no-role"))
    assert nobody.get("/dashboard/volume.csv").status_code == 403
    assert nobody.get("/dashboard/data.json").status_code == 403
