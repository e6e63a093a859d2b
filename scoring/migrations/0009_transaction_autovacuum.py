# Issue 11: the batch's history query is an index-only scan of txn_account_history (0007), which
# reads the heap for every row on a page that is not marked all-visible. Scoring updates every
# new row shortly after it is stored, so the last days' pages lose that mark until the table is
# vacuumed, and with PostgreSQL's defaults a table of 1M rows waits for 200,000 changed rows.
# Measured on 1.2M rows with 144,000 rows scored since the last vacuum: the history of a batch
# of 1,000 took 141-176 ms against 99-107 ms once vacuumed. Vacuuming after 2 % of the table
# (20,000 rows of 1M) keeps the map current; a vacuum reads only the pages not all-visible.
# PostgreSQL only; other databases have no such setting.

from django.db import migrations

OPTIONS = ("autovacuum_vacuum_scale_factor", "autovacuum_vacuum_insert_scale_factor")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        settings = ", ".join(f"{option} = 0.02" for option in OPTIONS)
        schema_editor.execute(f"ALTER TABLE scoring_transaction SET ({settings})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE scoring_transaction RESET ({', '.join(OPTIONS)})")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0008_transaction_fewer_indexes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
