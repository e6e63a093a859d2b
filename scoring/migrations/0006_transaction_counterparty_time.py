# Issue 11: the batch's history query reads the accounts' rows (txn_account_time) OR the
# payments to its counterparties in the look-back window; without this index PostgreSQL scans the
# whole window of txn_account_time and filters (EXPLAIN in docs/performance.md).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0005_risk_score_one_decimal"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("counterparty_id", ""), _negated=True),
                fields=["counterparty_id", "occurred_at"],
                name="txn_counterparty_time",
            ),
        ),
    ]
