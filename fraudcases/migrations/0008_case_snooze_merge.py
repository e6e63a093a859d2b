"""Snooze and merge of cases (filters): snooze fields, the merge link, the ``merged``
disposition (set only by merging; never a training label)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DISPOSITIONS = [
    ("fraud_confirmed", "Fraud confirmed"),
    ("legitimate", "Legitimate"),
    ("inconclusive", "Inconclusive"),
    ("merged", "Merged into another case"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("fraudcases", "0007_risk_score_one_decimal"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="merged_into",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="merged_cases",
                to="fraudcases.case",
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="snooze_reason",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="case",
            name="snoozed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="case",
            name="snoozed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="snoozed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="case",
            name="disposition",
            field=models.CharField(blank=True, choices=DISPOSITIONS, default="", max_length=20),
        ),
        migrations.AlterField(
            model_name="case",
            name="proposed_disposition",
            field=models.CharField(blank=True, choices=DISPOSITIONS, default="", max_length=20),
        ),
        migrations.AlterField(
            model_name="qareview",
            name="corrected_disposition",
            field=models.CharField(blank=True, choices=DISPOSITIONS, default="", max_length=20),
        ),
        migrations.AlterField(
            model_name="qareview",
            name="disposition",
            field=models.CharField(choices=DISPOSITIONS, max_length=20),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["snoozed_until"], name="case_snoozed"),
        ),
    ]
