"""Create the role groups, and make the audit table append-only at the database on PostgreSQL.

TRUNCATE (used by test teardown and by a deliberate ``flush``) is not a row-level DELETE and
stays possible for the table owner; everything else is refused by the trigger. Other databases
rely on the model, which refuses updates and deletes.
"""

from django.db import migrations

ROLES = ("investigator", "supervisor", "admin", "auditor")

PG_GUARD = """
CREATE OR REPLACE FUNCTION fraudcases_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'fraudcases_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS fraudcases_audit_append_only ON fraudcases_auditevent;
CREATE TRIGGER fraudcases_audit_append_only
    BEFORE UPDATE OR DELETE ON fraudcases_auditevent
    FOR EACH ROW EXECUTE FUNCTION fraudcases_audit_append_only();
"""
PG_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS fraudcases_audit_append_only ON fraudcases_auditevent;
DROP FUNCTION IF EXISTS fraudcases_audit_append_only();
"""


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_GUARD, params=None)


def unguard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_GUARD_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("fraudcases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(guard, unguard),
    ]
