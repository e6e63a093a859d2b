# Issue 11: scoring changes indexed columns (status, risk level), so every scored row is a non-HOT
# update that writes a new entry into every index of scoring_transaction, and ingest writes them
# all too. Three entries per row that nothing needs are cut:
# - model_version_id: no query reads transactions by their model (the live precision groups
#   all scored rows, the dashboard's model filter matches nearly every row); only deleting a
#   ModelVersion checks for rows that PROTECT it, a rare sequential scan;
# - challenger_model_version_id becomes a partial index of rows that have a challenger score
#   (the challenger comparison reads those): ingest and scoring without a challenger write
#   nothing there;
# - external_id's varchar_pattern_ops index (PostgreSQL only), which Django adds to a unique
#   CharField for LIKE 'prefix%' lookups: none exists (the admin's search is icontains, which
#   it cannot serve); the unique index stays and serves equality and ON CONFLICT.
# Only the indexes change: an AlterField would make SQLite rebuild the table, and the case total
# triggers on fraudcases_casetransaction (fraudcases 0014) name this table.

from django.db import migrations, models

MODEL_INDEX = "scoring_transaction_model_version_id_a7aa368d"
CHALLENGER_INDEX = "scoring_transaction_challenger_model_version_id_8201df18"
LIKE_INDEX = "scoring_transaction_external_id_12234dbe_like"


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")


def create_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} "
            "ON scoring_transaction (external_id varchar_pattern_ops)"
        )


def _foreign_key(**extra):
    return models.ForeignKey(
        blank=True,
        null=True,
        on_delete=models.deletion.PROTECT,
        related_name="+",
        to="scoring.modelversion",
        **extra,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0009_transaction_autovacuum"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("challenger_model_version__isnull", False)),
                fields=["challenger_model_version"],
                name="txn_challenger",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="transaction",
                    name=name,
                    field=_foreign_key(db_index=False),
                )
                for name in ("model_version", "challenger_model_version")
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f"DROP INDEX IF EXISTS {index}",
                    reverse_sql=f"CREATE INDEX {index} ON scoring_transaction ({column})",
                )
                for index, column in (
                    (MODEL_INDEX, "model_version_id"),
                    (CHALLENGER_INDEX, "challenger_model_version_id"),
                )
            ],
        ),
        migrations.RunPython(drop_like_index, create_like_index),
    ]
