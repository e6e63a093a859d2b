"""Training labels carry their source and time (``scoring.services.labels`` writes them).

Backfill: a label stored with generator or imported data keeps it with that source; any other
stored label came from a case disposition and is kept only while that case is closed as
``fraud_confirmed`` / ``legitimate`` (a reopened or ``inconclusive`` case's stale label is
cleared); closed cases' transactions without a label get the disposition's.
"""

from django.db import migrations, models
from django.db.models import F, Q


def backfill(apps, schema_editor):
    Transaction = apps.get_model("scoring", "Transaction")
    labelled = Transaction.objects.filter(is_fraud__isnull=False)
    labelled.filter(source="synthetic").update(
        label_source="generator", labelled_at=F("created_at")
    )
    labelled.filter(source="import").update(label_source="import", labelled_at=F("created_at"))
    decided = Q(case_link__case__status="closed") & Q(
        case_link__case__disposition__in=("fraud_confirmed", "legitimate")
    )
    rest = Transaction.objects.filter(label_source="")
    stale = rest.filter(is_fraud__isnull=False).exclude(decided).values("pk")
    Transaction.objects.filter(pk__in=stale).update(is_fraud=None)
    Case = apps.get_model("fraudcases", "Case")
    closed = Case.objects.filter(
        status="closed", disposition__in=("fraud_confirmed", "legitimate")
    ).values_list("pk", "disposition", "closed_at")
    for case_id, disposition, closed_at in closed.iterator():
        rest.filter(case_link__case_id=case_id).update(
            is_fraud=disposition == "fraud_confirmed",
            label_source="disposition",
            labelled_at=closed_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0003_stream_source_rule_errors"),
        ("fraudcases", "0003_case_workspace"),
    ]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="label_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("generator", "Synthetic generator"),
                    ("import", "Imported label column"),
                    ("disposition", "Case disposition"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="transaction",
            name="labelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
