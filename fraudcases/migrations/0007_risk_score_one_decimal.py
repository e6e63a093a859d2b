# Written by hand (levels, issue 12): only the risk-score changes; the snooze/merge fields are
# filters' 0008_case_snooze_merge.
# Case and QA review risks become one-decimal floats (0-100), as the transaction's do
# (scoring 0005); the case's range is now a check constraint, and the queue's default order
# is by risk.

import django.core.validators
from django.db import migrations, models

RISK_SCORE_VALIDATORS = [
    django.core.validators.MinValueValidator(0.0),
    django.core.validators.MaxValueValidator(100.0),
]


class Migration(migrations.Migration):
    dependencies = [
        ("fraudcases", "0006_qa_review"),
        ("scoring", "0005_risk_score_one_decimal"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="case",
            options={"ordering": ["-risk_score", "-priority_rank", "created_at"]},
        ),
        migrations.AlterField(
            model_name="case",
            name="risk_score",
            field=models.FloatField(default=0.0, validators=RISK_SCORE_VALIDATORS),
        ),
        migrations.AlterField(
            model_name="qareview",
            name="risk_score",
            field=models.FloatField(default=0.0, validators=RISK_SCORE_VALIDATORS),
        ),
        migrations.AddConstraint(
            model_name="case",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("risk_score__isnull", True),
                    models.Q(("risk_score__gte", 0), ("risk_score__lte", 100)),
                    _connector="OR",
                ),
                name="case_risk_score_range",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                fields=["status", "-risk_score", "-priority_rank", "created_at"],
                name="case_queue_risk",
            ),
        ),
    ]
