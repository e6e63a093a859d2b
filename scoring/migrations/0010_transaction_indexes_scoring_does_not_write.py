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
# triggers on fraudcases_casetransaction (fraudcases 0014) name this table. On PostgreSQL they are
# built and dropped CONCURRENTLY (outside a transaction, so this migration is not atomic): a
# plain CREATE INDEX would block every insert and scoring update for as long as it reads the
# table, which on a large deployment is minutes of refused ingest.

from django.db import migrations, models

TABLE = "scoring_transaction"
CHALLENGER_PARTIAL = (
    "txn_challenger",
    "(challenger_model_version_id) WHERE challenger_model_version_id IS NOT NULL",
)
# Django's names for the indexes it made (0001), with their columns.
OLD_INDEXES = [
    ("scoring_transaction_model_version_id_a7aa368d", "(model_version_id)"),
    ("scoring_transaction_challenger_model_version_id_8201df18", "(challenger_model_version_id)"),
]
LIKE_INDEX = ("scoring_transaction_external_id_12234dbe_like", "(external_id varchar_pattern_ops)")


def _indexes(schema_editor, *, create: list, drop: list) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    how = "CONCURRENTLY " if postgresql else ""
    for name, definition in create:
        if postgresql or name != LIKE_INDEX[0]:
            schema_editor.execute(f"CREATE INDEX {how}IF NOT EXISTS {name} ON {TABLE} {definition}")
    for name, _definition in drop:
        schema_editor.execute(f"DROP INDEX {how}IF EXISTS {name}")


def forwards(apps, schema_editor):
    # The new index first, so the comparison's query always has one.
    _indexes(schema_editor, create=[CHALLENGER_PARTIAL], drop=[*OLD_INDEXES, LIKE_INDEX])


def backwards(apps, schema_editor):
    _indexes(schema_editor, create=[*OLD_INDEXES, LIKE_INDEX], drop=[CHALLENGER_PARTIAL])


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
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("scoring", "0009_transaction_autovacuum"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(
                        condition=models.Q(("challenger_model_version__isnull", False)),
                        fields=["challenger_model_version"],
                        name="txn_challenger",
                    ),
                ),
                *(
                    migrations.AlterField(
                        model_name="transaction",
                        name=name,
                        field=_foreign_key(db_index=False),
                    )
                    for name in ("model_version", "challenger_model_version")
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
