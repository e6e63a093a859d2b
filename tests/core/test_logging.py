"""Structured logs: one JSON object per line with the request id, from the API into tasks."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.db import OperationalError

from core.celery_signals import REQUEST_ID_HEADER
from core.logging import (
    ClientErrorTracebackFilter,
    JsonFormatter,
    RequestContextFilter,
    current_task_id,
    logging_config,
)
from core.middleware import current_request_id


@pytest.fixture
def captured():
    """A logger whose records go through our filter and JSON formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(ClientErrorTracebackFilter())  # as logging_config() wires them
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_event_with_the_request_id(captured):
    token = current_request_id.set("req-1234")
    try:
        logging.getLogger("fraudcases.test").info("scored %d rows\nin two lines", 3)
    finally:
        current_request_id.reset(token)
    [record] = lines(captured)
    assert record["message"] == "scored 3 rows\nin two lines"
    assert record["level"] == "INFO" and record["logger"] == "fraudcases.test"
    assert record["request_id"] == "req-1234"
    assert record["time"].endswith("+00:00") and isinstance(record["process"], int)


def test_an_exception_stays_on_one_line(captured):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("fraudcases.test").exception("failed", extra={"batch": 7})
    [record] = lines(captured)
    assert "ValueError: boom" in record["exc_info"] and record["batch"] == 7
    assert record["request_id"] is None


def test_plain_format_names_the_request_id():
    config = logging_config(log_format="plain", level="INFO")
    formatter = logging.Formatter(config["formatters"]["default"]["format"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    token = current_request_id.set("req-plain-1")
    try:
        RequestContextFilter().filter(record)
    finally:
        current_request_id.reset(token)
    assert "[req-plain-1] hello" in formatter.format(record)


def test_log_format_is_checked():
    assert logging_config(log_format="json", level="INFO")["formatters"]["default"] == {
        "()": "core.logging.JsonFormatter"
    }
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")


@pytest.mark.django_db
def test_an_api_request_logs_with_its_request_id(api_client, monkeypatch, captured):
    def down(self, request):
        raise OperationalError("connection refused")

    monkeypatch.setattr("scoring.api.authentication.ApiKeyAuthentication.authenticate", down)
    response = api_client.post(
        "/api/v1/transactions", {}, format="json", HTTP_X_REQUEST_ID="client-req-42"
    )
    assert response.status_code == 503
    outage = [r for r in lines(captured) if r["logger"] == "core.outage"]
    assert outage and outage[0]["request_id"] == "client-req-42"


def test_the_request_id_travels_into_tasks(captured):
    from celery import signals

    from scoring.tasks import score_batch

    # Publishing from a request: the id rides along as a message header.
    headers: dict = {}
    token = current_request_id.set("req-into-task")
    try:
        signals.before_task_publish.send(sender=score_batch.name, headers=headers, body=None)
    finally:
        current_request_id.reset(token)
    assert headers[REQUEST_ID_HEADER] == "req-into-task"

    # In the worker: the task's request id (kwarg or header) is on every line it logs.
    signals.task_prerun.send(
        sender=score_batch, task_id="task-9", task=score_batch, args=(), kwargs={"request_id": "r9"}
    )
    try:
        logging.getLogger("scoring.tasks").info("inside the task")
    finally:
        signals.task_postrun.send(sender=score_batch, task_id="task-9", task=score_batch)
    logging.getLogger("scoring.tasks").info("after the task")
    inside, after = lines(captured)
    assert inside["request_id"] == "r9" and inside["task_id"] == "task-9"
    assert after["request_id"] is None and "task_id" not in after
    assert current_request_id.get() is None and current_task_id.get() is None


def test_a_refused_request_logs_one_line_without_a_traceback(client, make_user, captured):
    """A 403 is an answer, not a server fault: Django's line stays, its traceback goes."""
    client.force_login(make_user("auditor", "aud-log"))
    assert client.post("/cases/bulk/", {"action": "assign"}).status_code == 403
    forbidden = [r for r in lines(captured) if r["logger"] == "django.request"]
    assert forbidden and all("Traceback" not in json.dumps(r) for r in forbidden)
    assert all("exc_info" not in r for r in forbidden)


def test_a_server_error_keeps_its_traceback():
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", (), None)
    record.status_code = 500
    record.exc_info = (ValueError, ValueError("x"), None)
    ClientErrorTracebackFilter().filter(record)
    assert record.exc_info is not None
