"""The audit table's append-only triggers, on SQLite and on PostgreSQL.

The test settings turn on the maintenance bypass (so teardown can flush tables); every test here
turns it off for itself first, as production has it.
"""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from core.audit import GUARD_TRIGGERS, audit_record, audit_verify_chain
from core.models import AuditEvent

pytestmark = pytest.mark.django_db

on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")


@pytest.fixture(autouse=True)
def audit_files(settings, tmp_path):
    settings.AUDIT_HMAC_KEY = "guard-test-key-" + "c" * 40
    settings.AUDIT_ANCHOR_PATH = tmp_path / "anchors.jsonl"


@pytest.fixture
def guarded(settings):
    """The guard as production has it: the test settings' bypass switched off."""
    settings.AUDIT_DB_MAINTENANCE = False  # SQLite: the connection function now says "locked"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL fraudcases.audit_maintenance = 'off'")


def _raw(sql: str, params: list | tuple = ()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


REFUSED = [
    ("UPDATE fraudcases_auditevent SET note = 'changed' WHERE id = %s", "UPDATE"),
    ("DELETE FROM fraudcases_auditevent WHERE id = %s", "DELETE"),
    ("DELETE FROM fraudcases_auditevent WHERE id >= %s", "DELETE"),  # SQLite's "truncate"
]


@pytest.mark.parametrize(("sql", "operation"), REFUSED)
def test_triggers_refuse_update_and_delete(guarded, sql, operation):
    event = audit_record(action="test.event", note="x")
    with pytest.raises(DatabaseError, match=rf"append-only \({operation} refused\)"):
        _raw(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).note == "x"


@on_postgresql
def test_postgresql_refuses_truncate(guarded):
    audit_record(action="test.event", note="x")
    _raw("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match=r"append-only \(TRUNCATE refused\)"):
        _raw("TRUNCATE fraudcases_auditevent CASCADE")
    assert AuditEvent.objects.count() == 1


@on_postgresql
def test_postgresql_bypass_is_only_for_the_table_owner(guarded):
    """A role with UPDATE/DELETE rights but not the table's owner gains nothing from setting the
    maintenance variable; only the owner (who could drop the trigger anyway) may use it."""
    event = audit_record(action="test.event", note="x")
    role = f"fc_audit_dml_{uuid.uuid4().hex[:8]}"  # rolled back with the test's transaction
    _raw(f"CREATE ROLE {role} NOLOGIN")
    _raw(f"GRANT SELECT, UPDATE, DELETE ON fraudcases_auditevent TO {role}")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute("SET LOCAL fraudcases.audit_maintenance = 'on'")
        cursor.execute("UPDATE fraudcases_auditevent SET note = 'y' WHERE id = %s", [event.pk])
    with transaction.atomic(), connection.cursor() as cursor:  # the owner (test superuser) may
        cursor.execute("SET LOCAL fraudcases.audit_maintenance = 'on'")
        cursor.execute("UPDATE fraudcases_auditevent SET note = 'y' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).note == "y"


@on_sqlite
def test_sqlite_clients_without_the_function_fail_closed():
    """The plain sqlite3 shell (or any program but ours) cannot even prepare a change."""
    audit_record(action="test.event", note="x")
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=5)
    try:
        for sql in (
            "UPDATE fraudcases_auditevent SET note = 'changed'",
            "DELETE FROM fraudcases_auditevent",
        ):
            with pytest.raises(sqlite3.OperationalError, match="no such function"):
                other.execute(sql)
    finally:
        other.close()


def test_the_bypass_is_what_lets_teardown_flush(settings):
    """With the test settings' bypass on (as flush needs it) the triggers let changes through."""
    assert settings.AUDIT_DB_MAINTENANCE is True
    event = audit_record(action="test.event", note="x")
    _raw("DELETE FROM fraudcases_auditevent WHERE id = %s", [event.pk])
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def test_every_trigger_is_installed_after_all_migrations():
    """A later migration that rebuilds the table (SQLite does for most column changes) must
    re-create the triggers; this fails if it does not."""
    assert audit_verify_chain().ok
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'fraudcases_auditevent'::regclass"
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {name for (name,) in cursor.fetchall()}
    assert set(GUARD_TRIGGERS[connection.vendor]) <= names


def test_a_dropped_trigger_is_reported_by_verification():
    audit_record(action="test.event", note="x")
    name = GUARD_TRIGGERS[connection.vendor][0]
    suffix = " ON fraudcases_auditevent" if connection.vendor == "postgresql" else ""
    _raw(f"DROP TRIGGER {name}{suffix}")  # rolled back with the test's transaction
    report = audit_verify_chain()
    assert not report.ok and f"append-only trigger {name} is missing" in report.reason


@on_postgresql
def test_a_disabled_trigger_is_reported_by_verification():
    audit_record(action="test.event", note="x")
    _raw("SET CONSTRAINTS ALL IMMEDIATE")  # (the insert's deferred checks, before ALTER TABLE)
    _raw("ALTER TABLE fraudcases_auditevent DISABLE TRIGGER fraudcases_audit_no_truncate")
    report = audit_verify_chain()
    assert not report.ok
    assert (
        "append-only trigger fraudcases_audit_no_truncate is missing or disabled" in report.reason
    )
