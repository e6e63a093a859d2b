"""The case facts carry the case's own columns (status, priority, risk, disposition, dates,
assignee, the sum of its transactions) and the link facts the case's status, disposition, risk
and closing time, so the dashboard's case charts read one narrow table each; the case day
rollup counts cases opened and closed per day (docs/reporting.md).

A trigger on the cases marks a case dirty whenever one of the copied columns changes, whatever
wrote it (the audit log's trigger marks it too, but a raw UPDATE is not audited). The facts are
rebuilt by the next fold (``built_at`` cleared), and so are they after any change to the rules
table (the case day rollup keeps one row set per rule)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DIRTY_CASE = "fraudcases_rollupdirtycase"
# The case columns the facts copy: a change to one of them marks the case.
COPIED = (
    "status",
    "priority",
    "risk_level",
    "risk_score",
    "disposition",
    "account_id",
    "assignee_id",
    "created_at",
    "closed_at",
    "due_at",
)
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION fraudcases_rollup_mark_case_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {DIRTY_CASE} (case_id) SELECT id FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {DIRTY_CASE} (case_id) SELECT id FROM old_rows;
    ELSE
        INSERT INTO {DIRTY_CASE} (case_id)
        SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE ({", ".join("o." + c for c in COPIED)})
            IS DISTINCT FROM ({", ".join("n." + c for c in COPIED)});
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER fraudcases_rollup_case_insert AFTER INSERT ON fraudcases_case
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fraudcases_rollup_mark_case_row();
CREATE TRIGGER fraudcases_rollup_case_update AFTER UPDATE ON fraudcases_case
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fraudcases_rollup_mark_case_row();
CREATE TRIGGER fraudcases_rollup_case_delete AFTER DELETE ON fraudcases_case
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fraudcases_rollup_mark_case_row();
"""
# The rules table: a rule added, renamed or deleted changes what the per-rule rows of the case
# day rollup should hold, so the next read rebuilds the rollups (rules change rarely).
PG_RULES = """
CREATE OR REPLACE FUNCTION fraudcases_rollup_rules_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fraudcases_rollupstate SET built_at = NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER fraudcases_rollup_rules AFTER INSERT OR DELETE OR UPDATE OF name ON scoring_rule
    FOR EACH STATEMENT EXECUTE FUNCTION fraudcases_rollup_rules_changed();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS fraudcases_rollup_rules ON scoring_rule;
DROP FUNCTION IF EXISTS fraudcases_rollup_rules_changed();
DROP TRIGGER IF EXISTS fraudcases_rollup_case_insert ON fraudcases_case;
DROP TRIGGER IF EXISTS fraudcases_rollup_case_update ON fraudcases_case;
DROP TRIGGER IF EXISTS fraudcases_rollup_case_delete ON fraudcases_case;
DROP FUNCTION IF EXISTS fraudcases_rollup_mark_case_row();
"""
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER fraudcases_rollup_case_insert AFTER INSERT ON fraudcases_case "
    f"BEGIN INSERT INTO {DIRTY_CASE} (case_id) VALUES (NEW.id); END;",
    f"CREATE TRIGGER fraudcases_rollup_case_update AFTER UPDATE OF {', '.join(COPIED)} "
    f"ON fraudcases_case WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COPIED)
    + f" BEGIN INSERT INTO {DIRTY_CASE} (case_id) VALUES (NEW.id); END;",
    f"CREATE TRIGGER fraudcases_rollup_case_delete AFTER DELETE ON fraudcases_case "
    f"BEGIN INSERT INTO {DIRTY_CASE} (case_id) VALUES (OLD.id); END;",
)
SQLITE_TRIGGERS += tuple(
    f"CREATE TRIGGER fraudcases_rollup_rules_{event.split()[0].lower()} AFTER {event} "
    f"ON scoring_rule BEGIN UPDATE fraudcases_rollupstate SET built_at = NULL; END;"
    for event in ("INSERT", "DELETE", "UPDATE OF name")
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS fraudcases_rollup_rules_insert;",
    "DROP TRIGGER IF EXISTS fraudcases_rollup_rules_delete;",
    "DROP TRIGGER IF EXISTS fraudcases_rollup_rules_update;",
    "DROP TRIGGER IF EXISTS fraudcases_rollup_case_insert;",
    "DROP TRIGGER IF EXISTS fraudcases_rollup_case_update;",
    "DROP TRIGGER IF EXISTS fraudcases_rollup_case_delete;",
)


def _triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION)
        schema_editor.execute(PG_RULES)
    elif vendor == "sqlite":
        for sql in SQLITE_TRIGGERS:
            schema_editor.execute(sql)


def _drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)


def _rebuild_on_next_fold(apps, schema_editor):
    """The facts' new columns are empty: the next fold rebuilds every rollup and fact."""
    apps.get_model("fraudcases", "RollupState").objects.update(built_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("fraudcases", "0012_kernel_models_to_core"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("scoring", "0006_transaction_counterparty_time"),
    ]

    operations = [
        migrations.CreateModel(
            name="CaseDayRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("kind", models.CharField(max_length=16)),
                ("risk_level", models.CharField(blank=True, default="", max_length=16)),
                ("priority", models.CharField(blank=True, default="", max_length=10)),
                ("disposition", models.CharField(blank=True, default="", max_length=20)),
                ("value", models.CharField(blank=True, default="", max_length=100)),
                ("n", models.PositiveIntegerField()),
                (
                    "amount",
                    models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True),
                ),
            ],
        ),
        migrations.AddField(
            model_name="casefact",
            name="account_id",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="casefact",
            name="amount",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True),
        ),
        migrations.AddField(
            model_name="casefact",
            name="assignee",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="casefact",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="casefact",
            name="created_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="casefact",
            name="disposition",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddField(
            model_name="casefact",
            name="due_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="casefact",
            name="is_open",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="casefact",
            name="priority",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.AddField(
            model_name="casefact",
            name="risk_level",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="casefact",
            name="risk_score",
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name="casefact",
            name="status",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddField(
            model_name="caselinkfact",
            name="case_closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="caselinkfact",
            name="case_disposition",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddField(
            model_name="caselinkfact",
            name="case_risk_level",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="caselinkfact",
            name="case_status",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddIndex(
            model_name="casefact",
            index=models.Index(fields=["created_at"], name="rollup_fact_created"),
        ),
        migrations.AddIndex(
            model_name="casefact",
            index=models.Index(fields=["closed_at"], name="rollup_fact_closed"),
        ),
        migrations.AddIndex(
            model_name="casefact",
            index=models.Index(fields=["is_open", "amount"], name="rollup_fact_open_amount"),
        ),
        migrations.AddIndex(
            model_name="caselinkfact",
            index=models.Index(fields=["case_closed_at"], name="rollup_link_closed"),
        ),
        migrations.AddIndex(
            model_name="casedayrollup",
            index=models.Index(fields=["kind", "day"], name="rollup_case_day"),
        ),
        migrations.RunPython(_triggers, _drop_triggers),
        migrations.RunPython(_rebuild_on_next_fold, migrations.RunPython.noop),
    ]
