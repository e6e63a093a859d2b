"""The keyed audit chain, its anchors, key rotation, and every tamper class it must detect.

Run on SQLite and on PostgreSQL (``DATABASE_URL=postgres://…``): each tamper class is written the
way a hostile database user would (raw SQL, past the model and the triggers) and must make
``verify_audit_log`` fail, naming what is wrong.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

from core.audit import (
    AnchorRefusedError,
    AuditKeyError,
    audit_anchor_write,
    audit_check_run,
    audit_current_key,
    audit_keys,
    audit_last_check,
    audit_read_anchors,
    audit_record,
    audit_verify_chain,
    chain_mac,
    chain_payload,
)
from core.models import AuditCheck, AuditEvent

pytestmark = pytest.mark.django_db

KEY_1 = "k1-" + "a" * 61
KEY_2 = "k2-" + "b" * 61


@pytest.fixture(autouse=True)
def audit_files(settings, tmp_path):
    """A key and an anchor file of this test's own."""
    settings.AUDIT_HMAC_KEY = KEY_1
    settings.AUDIT_HMAC_KEY_ID = "k1"
    settings.AUDIT_HMAC_OLD_KEYS = {}
    settings.AUDIT_ANCHOR_PATH = tmp_path / "anchors.jsonl"
    return tmp_path


def _events(n: int) -> list[AuditEvent]:
    for i in range(n):
        audit_record(action="test.event", actor_label="system:test", note=f"event {i}")
    return list(AuditEvent.objects.order_by("seq"))


def _tamper(sql: str, params: list | tuple = ()) -> None:
    """Write as an attacker with database rights would: past the model and the triggers
    (PostgreSQL: a superuser's replica mode skips triggers; the test settings' maintenance
    bypass lets SQLite's through)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def _verify_fails(match: str) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_log")
    message = str(excinfo.value)
    assert match in message, message
    return message


# --- the chain as written ------------------------------------------------------------------


def test_rows_are_positioned_keyed_and_linked():
    events = _events(3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.prev_hash for e in events] == ["0" * 64, events[0].hash, events[1].hash]
    assert all(e.key_id == "k1" for e in events)
    for event in events:
        assert event.hash == chain_mac(event, KEY_1.encode())
        # Not an unkeyed hash of the same content: without the key it cannot be recomputed.
        assert event.hash != hashlib.sha256(chain_payload(event)).hexdigest()


def test_intact_chain_verifies(capsys):
    _events(4)
    call_command("verify_audit_log")
    assert "Audit log intact: 4 events verified" in capsys.readouterr().out


def test_an_empty_log_without_anchors_verifies():
    report = audit_verify_chain()
    assert report.ok and report.checked == 0 and "no anchor written yet" in report.reason


# --- tamper classes (each on whichever database the run uses) ----------------------------------


def test_altered_row_is_detected():
    events = _events(5)
    _tamper("UPDATE fraudcases_auditevent SET note = %s WHERE id = %s", ["rewritten", events[2].pk])
    report = audit_verify_chain()
    assert not report.ok and report.broken_id == events[2].pk and report.checked == 2
    _verify_fails(f"event #3 (id {events[2].pk}) does not match its MAC under key k1")


def test_altered_row_with_its_unkeyed_hash_recomputed_is_detected():
    events = _events(3)
    row = events[1]
    row.note = "forged"
    _tamper(
        "UPDATE fraudcases_auditevent SET note = %s, hash = %s WHERE id = %s",
        ["forged", hashlib.sha256(chain_payload(row)).hexdigest(), row.pk],
    )
    _verify_fails(f"event #2 (id {row.pk}) does not match its MAC")


def test_removed_row_is_detected_and_named():
    events = _events(6)
    _tamper("DELETE FROM fraudcases_auditevent WHERE seq IN (3, 4)")
    report = audit_verify_chain()
    assert not report.ok and report.broken_id == events[4].pk
    _verify_fails(f"events #3–#4 missing before event #5 (id {events[4].pk})")


def test_removed_tail_is_detected_against_the_anchor():
    _events(5)
    anchor = audit_anchor_write()
    _tamper("DELETE FROM fraudcases_auditevent WHERE seq >= 4")
    # Without the anchor the shortened chain is self-consistent: that is what anchors are for.
    assert audit_verify_chain(anchors=False).ok
    message = _verify_fails("events #4–#5 missing after the anchor at")
    assert anchor.at in message and "the log now ends at event #3" in message


def test_truncated_table_is_detected():
    _events(4)
    audit_anchor_write()
    if connection.vendor == "postgresql":
        # (The test's own transaction still holds deferred foreign-key checks of the inserts.)
        _tamper("SET CONSTRAINTS ALL IMMEDIATE")
        _tamper("TRUNCATE fraudcases_auditevent CASCADE")
    else:
        _tamper("DELETE FROM fraudcases_auditevent")
    assert AuditEvent.objects.count() == 0
    _verify_fails("events #1–#4 missing after the anchor at")
    _verify_fails("the audit table is empty (truncated)")


@pytest.mark.parametrize("key_id", ["k1", ""])
def test_chain_rewritten_with_recomputed_unkeyed_hashes_is_detected(key_id):
    """The attacker rewrites content and recomputes every link with plain SHA-256 (or any key
    but ours): the first row already fails, whatever key id it claims."""
    events = _events(4)
    prev = "0" * 64
    for row in events:
        row.note, row.key_id, row.prev_hash = f"rewritten {row.seq}", key_id, prev
        row.hash = hashlib.sha256(chain_payload(row)).hexdigest()
        _tamper(
            "UPDATE fraudcases_auditevent SET note = %s, key_id = %s, prev_hash = %s, hash = %s "
            "WHERE id = %s",
            [row.note, row.key_id, row.prev_hash, row.hash, row.pk],
        )
        prev = row.hash
    expected = "does not match its MAC" if key_id else "names key '', which is not configured"
    _verify_fails(f"event #1 (id {events[0].pk}) {expected}")


def test_chain_rewritten_by_someone_with_the_key_is_detected_by_the_anchor():
    """Even with the key, a rewrite of anchored rows shows: the anchor holds the old head."""
    _events(3)
    audit_anchor_write()
    events = list(AuditEvent.objects.order_by("seq"))
    prev = events[0].hash
    for row in events[1:]:
        row.note = f"rewritten {row.seq}" if row.seq == 2 else row.note
        row.prev_hash = prev
        row.hash = chain_mac(row, KEY_1.encode())
        _tamper(
            "UPDATE fraudcases_auditevent SET note = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [row.note, row.prev_hash, row.hash, row.pk],
        )
        prev = row.hash
    assert audit_verify_chain(anchors=False).ok  # a consistent chain under the right key
    _verify_fails(f"event #3 (id {events[2].pk}) is not the event the anchor at")


def test_row_inserted_out_of_band_is_detected():
    events = _events(2)
    forged = AuditEvent(
        created_at=events[-1].created_at,
        actor_label="system:test",
        action="test.forged",
        seq=3,
        key_id="k1",
        prev_hash=events[-1].hash,
    )
    forged.hash = hashlib.sha256(chain_payload(forged)).hexdigest()
    forged.save()
    _verify_fails(f"event #3 (id {forged.pk}) does not match its MAC")


@pytest.mark.e2e
def test_verify_exits_non_zero_from_the_command_line(transactional_db, tmp_path):
    """The real ``manage.py verify_audit_log`` process: 0 when intact, 1 once a row changed."""
    _events(3)
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test",
        "AUDIT_HMAC_KEY": KEY_1,
        "AUDIT_HMAC_KEY_ID": "k1",
        "AUDIT_ANCHOR_PATH": str(tmp_path / "anchors.jsonl"),
    }
    manage = [sys.executable, str(Path(django_settings.BASE_DIR) / "manage.py")]

    def run(*args):
        return subprocess.run(
            [*manage, *args, "--skip-checks"], env=env, capture_output=True, text=True, timeout=120
        )

    assert run("anchor_audit_log").returncode == 0
    intact = run("verify_audit_log")
    assert intact.returncode == 0, intact.stderr
    assert "intact: 3 events verified against 1 anchor" in intact.stdout
    _tamper("DELETE FROM fraudcases_auditevent WHERE seq = 3")
    broken = run("verify_audit_log")
    assert broken.returncode == 1
    assert "event #3 missing after the anchor at" in broken.stderr


# --- anchors -------------------------------------------------------------------------------


def test_anchor_appends_the_head_to_a_private_file_and_the_log(audit_files, caplog, capsys):
    events = _events(3)
    caplog.set_level("INFO", logger="core.audit.anchor")
    call_command("anchor_audit_log")
    assert "Anchored 3 events (head event id" in capsys.readouterr().out
    path = audit_files / "anchors.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (line,) = path.read_text().splitlines()
    data = json.loads(line)
    assert data["seq"] == 3 and data["last_id"] == events[-1].pk
    assert data["head"] == events[-1].hash and data["key_id"] == "k1"
    assert line in caplog.text  # the same line goes to the log (ship it off the host)

    call_command("anchor_audit_log")  # unchanged head: nothing new
    assert "nothing new" in capsys.readouterr().out
    _events(2)
    call_command("anchor_audit_log")
    anchors, problems = audit_read_anchors()
    assert not problems and [a.seq for a in anchors] == [3, 5]
    assert anchors[1].prev == anchors[0].mac
    report = audit_verify_chain()
    assert report.ok and report.anchors_checked == 2, report.reason


def test_anchor_refuses_to_seal_a_shortened_log():
    _events(4)
    audit_anchor_write()
    _tamper("DELETE FROM fraudcases_auditevent WHERE seq = 4")
    with pytest.raises(CommandError, match=r"Not anchored: the event the anchor at .* sealed"):
        call_command("anchor_audit_log")
    audit_record(action="test.event", note="after the removal")
    with pytest.raises(AnchorRefusedError):
        audit_anchor_write()
    assert len(audit_read_anchors()[0]) == 1


def test_anchor_refuses_a_file_others_can_write(audit_files):
    _events(1)
    path = audit_files / "anchors.jsonl"
    path.touch()
    path.chmod(0o666)
    with pytest.raises(CommandError, match="writable by others; chmod 600 it"):
        call_command("anchor_audit_log")


def test_anchor_refuses_new_rows_that_do_not_verify(audit_files):
    _events(2)
    audit_anchor_write()
    events = _events(2)  # 2 more: seq 3 and 4
    _tamper("UPDATE fraudcases_auditevent SET note = 'x' WHERE id = %s", [events[3].pk])
    with pytest.raises(AnchorRefusedError, match=r"event #4 .* does not match its MAC"):
        audit_anchor_write()


def test_edited_or_removed_anchor_lines_are_detected(audit_files):
    _events(2)
    audit_anchor_write()
    _events(1)
    audit_anchor_write()
    _events(1)
    audit_anchor_write()
    path = audit_files / "anchors.jsonl"
    lines = path.read_text().splitlines()

    edited = json.loads(lines[2])
    edited["seq"] = 2  # pretend the log was shorter
    path.write_text("\n".join([*lines[:2], json.dumps(edited)]) + "\n")
    _verify_fails("line 3 does not match its MAC (forged or edited)")

    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    _verify_fails("line 2 does not follow the line before it (a line was removed)")

    path.write_text("not json\n")
    _verify_fails("line 1 is not a valid anchor")

    path.write_text("\n".join(lines) + "\n")
    call_command("verify_audit_log")


# --- keys and rotation -----------------------------------------------------------------------


def test_rotation_keeps_old_rows_verifiable(settings):
    _events(2)
    audit_anchor_write()
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_KEY_ID = KEY_2, "k2"
    settings.AUDIT_HMAC_OLD_KEYS = {"k1": KEY_1}
    _events(2)
    audit_anchor_write()
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.key_id for e in events] == ["k1", "k1", "k2", "k2"]
    anchors, _ = audit_read_anchors()
    assert [a.key_id for a in anchors] == ["k1", "k2"]
    report = audit_verify_chain()
    assert report.ok and report.checked == 4 and report.anchors_checked == 2, report.reason

    # Dropping the retired key makes its rows unverifiable, and says so.
    settings.AUDIT_HMAC_OLD_KEYS = {}
    report = audit_verify_chain()
    assert not report.ok and "sealed with key 'k1', not configured" in report.reason


def test_rotation_needs_a_new_key_id(settings):
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_OLD_KEYS = KEY_2, {"k1": KEY_1}
    with pytest.raises(AuditKeyError, match="give the new key a new id"):
        audit_keys()


def test_short_keys_and_bad_key_ids_are_refused(settings):
    settings.AUDIT_HMAC_KEY = "too-short"
    with pytest.raises(AuditKeyError, match="shorter than 32 characters"):
        audit_current_key()
    with pytest.raises(CommandError, match="Audit key problem"):
        call_command("anchor_audit_log")
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_KEY_ID = KEY_1, "k 1"
    with pytest.raises(AuditKeyError, match="use 1-32 of"):
        audit_current_key()


def test_without_a_configured_key_one_is_generated_mode_600(settings, audit_files):
    path = audit_files / "var" / "audit-hmac-key"
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_KEY_FILE = "", path
    key_id, key = audit_current_key()
    assert key_id == "k1" and len(key) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert audit_current_key() == (key_id, key)  # stable
    event = audit_record(action="test.event")
    assert event.hash == chain_mac(event, key)
    path.chmod(0o644)
    with pytest.raises(AuditKeyError, match="readable by others"):
        audit_current_key()


# --- stored checks (for /healthz and /metrics) ---------------------------------------------


def test_checks_are_stored_and_last_check_reports_them():
    from core.tasks import audit_anchor, audit_verify

    assert audit_last_check() is None
    _events(3)
    assert audit_anchor() == 3
    assert audit_verify() is True
    last = audit_last_check()
    assert set(last) == {"ok", "checked", "at", "reason"}
    assert last["ok"] is True and last["checked"] == 3 and last["at"].tzinfo is not None
    assert "against 1 anchor" in last["reason"]

    _tamper("DELETE FROM fraudcases_auditevent WHERE seq = 3")
    assert audit_verify() is False
    last = audit_last_check()
    assert last["ok"] is False and "event #3 missing after the anchor" in last["reason"]
    assert audit_anchor() is None  # refused (logged), never seals the shortened log
    assert AuditCheck.objects.count() == 2


def test_old_checks_are_pruned():
    from datetime import timedelta

    from django.utils import timezone

    AuditCheck.objects.create(ok=True, created_at=timezone.now() - timedelta(days=400))
    audit_check_run(keep_days=90)
    assert AuditCheck.objects.count() == 1


def test_beat_runs_anchor_and_verify():
    import core.tasks  # noqa: F401 (registers the tasks)
    from fraudcases.celery import app

    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"core.audit_anchor", "core.audit_verify"} <= schedule
    assert {"core.audit_anchor", "core.audit_verify"} <= set(app.tasks)


# --- upgrade from the unkeyed chain (migration 0004) ----------------------------------------


class _SchemaEditor:
    """What the migration's data step needs of a schema editor: a connection and execute()."""

    connection = connection

    def execute(self, sql, params=None):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _legacy_rows(n: int, *, broken_at: int | None = None) -> None:
    """Rows as the unkeyed chain before migration 0004 wrote them (placeholder positions)."""
    migration = importlib.import_module("fraudcases.migrations.0004_audit_keyed_chain")
    events = _events(n)
    prev = "0" * 64
    for row in events:
        row.prev_hash = prev
        row.hash = migration.legacy_hash(row)
        note = row.note + (" (edited)" if row.seq == broken_at else "")
        _tamper(
            "UPDATE fraudcases_auditevent SET seq = %s, key_id = '', prev_hash = %s, hash = %s, "
            "note = %s WHERE id = %s",
            [1000 + row.seq, row.prev_hash, row.hash, note, row.pk],
        )
        prev = row.hash


def _rekey() -> None:
    """Run migration 0004's data step with the models as they were at that migration."""
    migration = importlib.import_module("fraudcases.migrations.0004_audit_keyed_chain")
    state = MigrationLoader(connection).project_state(("fraudcases", "0004_audit_keyed_chain"))
    migration.rekey_legacy_chain(state.apps, _SchemaEditor())


def test_upgrade_reseals_an_intact_unkeyed_chain():
    _legacy_rows(3)
    _rekey()
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4] and events[-1].action == "audit.chain_rekeyed"
    assert events[-1].after["events"] == 3 and "re-sealed under key k1" in events[-1].note
    report = audit_verify_chain()
    assert report.ok and report.checked == 4, report.reason


def test_upgrade_refuses_to_seal_a_broken_unkeyed_chain(settings):
    _legacy_rows(3, broken_at=2)
    with pytest.raises(RuntimeError, match=r"broken at event id .* the migration stops"):
        _rekey()
    settings.AUDIT_REKEY_ACCEPT_BROKEN_LEGACY = True
    _rekey()
    last = AuditEvent.objects.order_by("-seq").first()
    assert last.after["legacy_broken_at"].startswith("event id ") and "although" in last.note
