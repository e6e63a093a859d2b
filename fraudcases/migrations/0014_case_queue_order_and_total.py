# The queue's order indexes, and Case.transactions_total kept by triggers on the links.

import importlib

from django.conf import settings
from django.db import migrations, models

LINKS = "fraudcases_casetransaction"
CASES = "fraudcases_case"
TXNS = "scoring_transaction"


# The total of one case, recomputed from its links (amounts never change once stored).
def _total_of(case_sql: str) -> str:
    return (
        f"COALESCE((SELECT SUM(t.amount) FROM {LINKS} l JOIN {TXNS} t ON t.id = l.transaction_id "
        f"WHERE l.case_id = {case_sql}), 0)"
    )


# PostgreSQL: statement-level triggers with transition tables; one UPDATE per statement, over
# the cases the statement touched (a bulk_create of 5,000 links updates each case once).
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION fraudcases_case_total_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE {CASES} c SET transactions_total = {_total_of("c.id")}
        WHERE c.id IN (SELECT case_id FROM new_links);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE {CASES} c SET transactions_total = {_total_of("c.id")}
        WHERE c.id IN (SELECT case_id FROM old_links);
    END IF;
    RETURN NULL;
END $$;
"""
PG_TRIGGERS = [
    f"CREATE TRIGGER fraudcases_case_total_insert AFTER INSERT ON {LINKS} "
    "REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT "
    "EXECUTE FUNCTION fraudcases_case_total_refresh();",
    f"CREATE TRIGGER fraudcases_case_total_update AFTER UPDATE ON {LINKS} "
    "REFERENCING NEW TABLE AS new_links OLD TABLE AS old_links FOR EACH STATEMENT "
    "EXECUTE FUNCTION fraudcases_case_total_refresh();",
    f"CREATE TRIGGER fraudcases_case_total_delete AFTER DELETE ON {LINKS} "
    "REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT "
    "EXECUTE FUNCTION fraudcases_case_total_refresh();",
]
PG_DROP = [
    f"DROP TRIGGER IF EXISTS fraudcases_case_total_{op} ON {LINKS};"
    for op in ("insert", "update", "delete")
] + ["DROP FUNCTION IF EXISTS fraudcases_case_total_refresh();"]

# SQLite: row triggers.
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER fraudcases_case_total_insert AFTER INSERT ON {LINKS} BEGIN
        UPDATE {CASES} SET transactions_total = {_total_of("NEW.case_id")} WHERE id = NEW.case_id;
    END;""",
    f"""CREATE TRIGGER fraudcases_case_total_update AFTER UPDATE OF case_id, transaction_id
    ON {LINKS} BEGIN
        UPDATE {CASES} SET transactions_total = {_total_of("NEW.case_id")} WHERE id = NEW.case_id;
        UPDATE {CASES} SET transactions_total = {_total_of("OLD.case_id")} WHERE id = OLD.case_id;
    END;""",
    f"""CREATE TRIGGER fraudcases_case_total_delete AFTER DELETE ON {LINKS} BEGIN
        UPDATE {CASES} SET transactions_total = {_total_of("OLD.case_id")} WHERE id = OLD.case_id;
    END;""",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS fraudcases_case_total_{op};" for op in ("insert", "update", "delete")
]
BACKFILL = f"UPDATE {CASES} SET transactions_total = {_total_of(CASES + '.id')};"


def _case_row_triggers(schema_editor) -> None:
    """SQLite rebuilds a table to add a NOT NULL column, and the rebuild drops the table's
    triggers: the case facts' marks of migration 0013 are created again (here on the way up,
    and after the column is removed again on the way down)."""
    if schema_editor.connection.vendor != "sqlite":
        return
    earlier = importlib.import_module("fraudcases.migrations.0013_case_facts_wide")
    for sql in earlier.SQLITE_TRIGGERS:
        if sql.startswith("CREATE TRIGGER fraudcases_rollup_case_"):
            schema_editor.execute(sql.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1))


def _restore_after_removal(apps, schema_editor):
    _case_row_triggers(schema_editor)


def _triggers(apps, schema_editor):
    _case_row_triggers(schema_editor)
    vendor = schema_editor.connection.vendor
    statements = {
        "postgresql": [PG_FUNCTION, *PG_TRIGGERS],
        "sqlite": SQLITE_TRIGGERS,
    }.get(vendor)
    if statements is None:
        raise NotImplementedError(f"Case totals need triggers written for {vendor}.")
    for sql in [*statements, BACKFILL]:
        schema_editor.execute(sql)


def _drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": PG_DROP, "sqlite": SQLITE_DROP}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("fraudcases", "0013_case_facts_wide"),
        ("scoring", "0006_transaction_counterparty_time"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, _restore_after_removal),
        migrations.AddField(
            model_name="case",
            name="transactions_total",
            field=models.DecimalField(decimal_places=2, default=0, editable=False, max_digits=20),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(
                    ("snoozed_until__isnull", True),
                    ("status__in", ["new", "in_review", "escalated", "pending_approval"]),
                ),
                fields=["-risk_score", "-priority_rank", "created_at", "id"],
                name="case_open_order",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                fields=["-risk_score", "-priority_rank", "created_at"], name="case_order"
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["transactions_total", "id"], name="case_total"),
        ),
        migrations.RunPython(_triggers, _drop_triggers),
    ]
