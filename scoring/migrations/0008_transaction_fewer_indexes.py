# Issue 11: every index of scoring_transaction is written by every insert and, because scoring
# changes indexed columns, by every scoring update too (no HOT update). Two are cut:
# - the (status, enqueued_at) index becomes a partial index of pending rows: the only readers
#   (the sweeper, the pending gauge) ask for pending rows, and a scored row's new version is
#   not in it, so scoring writes nothing there;
# - ingest_batch is no longer indexed: nothing looks rows up by it (ingestion reads the stored
#   ids from INSERT ... RETURNING).
# The new index is built before the old one is dropped.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0007_transaction_history_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["enqueued_at"],
                name="txn_pending_enqueued",
            ),
        ),
        migrations.RemoveIndex(
            model_name="transaction",
            name="txn_status_enqueued",
        ),
        # Only the index goes: an AlterField would make SQLite rebuild the table, and the case
        # total triggers on fraudcases_casetransaction (fraudcases 0014) name this table.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="transaction",
                    name="ingest_batch",
                    field=models.UUIDField(blank=True, null=True),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql="DROP INDEX IF EXISTS scoring_transaction_ingest_batch_8fd835c5",
                    reverse_sql="CREATE INDEX scoring_transaction_ingest_batch_8fd835c5 "
                    "ON scoring_transaction (ingest_batch)",
                ),
            ],
        ),
    ]
