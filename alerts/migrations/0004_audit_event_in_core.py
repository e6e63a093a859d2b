"""The audit event model now lives in ``core``: the foreign keys point there (state only; the
same table and constraint)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_account_action_event"),
        ("core", "0001_kernel_models"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="event",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="alert_deliveries",
                        to="core.auditevent",
                    ),
                ),
                migrations.AlterField(
                    model_name="dispatchedevent",
                    name="event",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="alert_dispatch",
                        serialize=False,
                        to="core.auditevent",
                    ),
                ),
            ],
        ),
    ]
