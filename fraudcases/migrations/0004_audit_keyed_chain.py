"""Keyed audit chain, verification reports, and append-only triggers on both databases.

1. ``AuditEvent`` gains ``seq`` (gap-free position in the chain) and ``key_id`` (which
   configured HMAC key made the row's MAC).
2. Rows of the old unkeyed SHA-256 chain are verified with the old algorithm and, only if that
   chain is intact, re-sealed under the current key (``core.audit.chain_mac``); an
   ``audit.chain_rekeyed`` event records how many rows were re-sealed and the last unkeyed hash.
   A broken legacy chain stops the migration (see docs/audit.md, "Upgrading").
3. ``AuditCheck`` stores the outcome of each verification.
4. Triggers: PostgreSQL refuses UPDATE, DELETE (row triggers) and TRUNCATE (statement trigger);
   SQLite refuses UPDATE and DELETE. The only way past them is the maintenance bypass that the
   test settings turn on (docs/audit.md, "Append-only triggers").
"""

import hashlib
import json

from django.conf import settings
from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError
from django.utils import timezone

GENESIS_HASH = "0" * 64

PG_GUARD = """
CREATE OR REPLACE FUNCTION fraudcases_audit_append_only() RETURNS trigger AS $$
BEGIN
    -- Maintenance bypass (test teardown): only for a role that owns the table, i.e. one that
    -- could drop this trigger anyway; nobody else gains anything by setting the variable.
    IF current_setting('fraudcases.audit_maintenance', true) = 'on'
       AND pg_has_role(current_user,
                       (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        IF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN
            RETURN OLD;
        ELSIF TG_LEVEL = 'ROW' THEN
            RETURN NEW;
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'fraudcases_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS fraudcases_audit_append_only ON fraudcases_auditevent;
CREATE TRIGGER fraudcases_audit_append_only
    BEFORE UPDATE OR DELETE ON fraudcases_auditevent
    FOR EACH ROW EXECUTE FUNCTION fraudcases_audit_append_only();
DROP TRIGGER IF EXISTS fraudcases_audit_no_truncate ON fraudcases_auditevent;
CREATE TRIGGER fraudcases_audit_no_truncate
    BEFORE TRUNCATE ON fraudcases_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION fraudcases_audit_append_only();
"""
# Back to the guard of migration 0002 (row triggers, no bypass, TRUNCATE allowed).
PG_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS fraudcases_audit_no_truncate ON fraudcases_auditevent;
CREATE OR REPLACE FUNCTION fraudcases_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'fraudcases_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
# ``fraudcases_audit_locked()`` is registered on each Django connection (core.audit):
# it returns 1 except under the test settings' maintenance bypass. Any other client (the sqlite3
# shell) does not have it, so its UPDATE/DELETE fails with "no such function": closed.
SQLITE_GUARD = [
    """
    CREATE TRIGGER IF NOT EXISTS fraudcases_audit_no_update
    BEFORE UPDATE ON fraudcases_auditevent WHEN fraudcases_audit_locked()
    BEGIN SELECT RAISE(ABORT, 'fraudcases_auditevent is append-only (UPDATE refused)'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS fraudcases_audit_no_delete
    BEFORE DELETE ON fraudcases_auditevent WHEN fraudcases_audit_locked()
    BEGIN SELECT RAISE(ABORT, 'fraudcases_auditevent is append-only (DELETE refused)'); END
    """,
]
SQLITE_GUARD_REVERSE = [
    "DROP TRIGGER IF EXISTS fraudcases_audit_no_update",
    "DROP TRIGGER IF EXISTS fraudcases_audit_no_delete",
]


def legacy_hash(row) -> str:
    """The unkeyed SHA-256 of the chain before this migration (frozen here: its only use)."""
    payload = {
        "prev": row.prev_hash,
        "at": row.created_at.isoformat(),
        "actor_id": row.actor_id,
        "actor": row.actor_label,
        "action": row.action,
        "object": [row.object_type, row.object_id],
        "case": row.case_id,
        "before": row.before,
        "after": row.after,
        "note": row.note,
        "request_id": row.request_id,
        "ip": row.ip_address,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _maintenance(schema_editor, value: str) -> str:
    """Set the PostgreSQL trigger's bypass for this transaction; return the previous value."""
    if schema_editor.connection.vendor != "postgresql":
        return ""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('fraudcases.audit_maintenance', true)")
        (previous,) = cursor.fetchone()
        cursor.execute("SELECT set_config('fraudcases.audit_maintenance', %s, true)", [value])
    return previous or ""


def rekey_legacy_chain(apps, schema_editor):
    """Verify the unkeyed chain, then re-seal it under the current key, in id order."""
    from core.audit import LEGACY_BROKEN_OVERRIDE, audit_current_key, chain_mac

    AuditEvent = apps.get_model("fraudcases", "AuditEvent")
    db = schema_editor.connection.alias

    def in_id_order():
        last_id = 0
        while chunk := list(
            AuditEvent.objects.using(db).filter(id__gt=last_id).order_by("id")[:2000]
        ):
            yield from chunk
            last_id = chunk[-1].id

    if not AuditEvent.objects.using(db).exists():
        return
    prev = GENESIS_HASH
    broken = ""
    count = 0
    for row in in_id_order():
        if not broken and (row.prev_hash != prev or legacy_hash(row) != row.hash):
            broken = f"event id {row.id}"
        prev = row.hash
        count += 1
    last_legacy_hash = prev
    if broken and not getattr(settings, LEGACY_BROKEN_OVERRIDE, False):
        raise RuntimeError(
            f"The existing (unkeyed) audit chain is broken at {broken}: it was changed before "
            "this upgrade. Re-sealing it would make the change look authentic, so the migration "
            f"stops. Investigate (docs/audit.md, 'Upgrading'); to seal it as it is, set "
            f"{LEGACY_BROKEN_OVERRIDE} = True for this one migrate run (the break is recorded)."
        )

    key_id, key = audit_current_key()
    previous = _maintenance(schema_editor, "on")
    prev = GENESIS_HASH
    seq = 0
    for row in in_id_order():
        seq += 1
        row.seq, row.key_id, row.prev_hash = seq, key_id, prev
        row.hash = chain_mac(row, key)
        AuditEvent.objects.using(db).filter(pk=row.pk).update(
            seq=row.seq, key_id=row.key_id, prev_hash=row.prev_hash, hash=row.hash
        )
        prev = row.hash
    _maintenance(schema_editor, previous)

    note = (
        f"{count} events of the unkeyed SHA-256 chain verified and re-sealed under key "
        f"{key_id}; last unkeyed hash {last_legacy_hash}."
    )
    if broken:
        note = f"{count} events re-sealed under key {key_id} although the unkeyed chain was "
        note += f"broken at {broken} ({LEGACY_BROKEN_OVERRIDE}); last unkeyed hash "
        note += f"{last_legacy_hash}."
    event = AuditEvent(
        created_at=timezone.now(),
        actor_label="system:migration",
        action="audit.chain_rekeyed",
        note=note,
        seq=seq + 1,
        key_id=key_id,
        prev_hash=prev,
        after={"events": count, "key_id": key_id, "legacy_broken_at": broken or None},
    )
    event.hash = chain_mac(event, key)
    event.save(using=db)
    if schema_editor.connection.vendor == "postgresql":
        # Run the deferred foreign-key checks now: ALTER TABLE below refuses pending ones.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE", params=None)


def refuse_unkey(apps, schema_editor):
    AuditEvent = apps.get_model("fraudcases", "AuditEvent")
    if AuditEvent.objects.using(schema_editor.connection.alias).exists():
        raise IrreversibleError(
            "The audit log is sealed with HMAC keys; going back would strip the keys from it."
        )


def pg_guard(apps, schema_editor):
    # PostgreSQL first (its new trigger function carries the bypass the re-keying needs).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_GUARD, params=None)


def sqlite_guard(apps, schema_editor):
    # SQLite last: altering a column there rebuilds the table, which drops its triggers.
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_GUARD:
            schema_editor.execute(sql, params=None)


def pg_unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_GUARD_REVERSE, params=None)


def sqlite_unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_GUARD_REVERSE:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("fraudcases", "0003_case_workspace"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.RunPython(pg_guard, pg_unguard),
        migrations.RunPython(rekey_legacy_chain, refuse_unkey),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(unique=True),
        ),
        migrations.CreateModel(
            name="AuditCheck",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=timezone.now)),
                ("ok", models.BooleanField()),
                ("checked", models.PositiveBigIntegerField(default=0)),
                ("anchors_checked", models.PositiveIntegerField(default=0)),
                ("reason", models.TextField(blank=True, default="")),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["-created_at"], name="audit_check_time")],
            },
        ),
        migrations.RunPython(sqlite_guard, sqlite_unguard),
    ]
