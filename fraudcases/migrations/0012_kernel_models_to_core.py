"""The kernel's models left this app for ``core`` (core 0001): state only, the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_audit_event_in_core"),
        ("fraudcases", "0011_dashboard_rollups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(
                    name="AuditCheck",
                ),
                migrations.RemoveField(
                    model_name="auditevent",
                    name="actor",
                ),
                migrations.RemoveField(
                    model_name="auditevent",
                    name="case",
                ),
                migrations.DeleteModel(
                    name="LoginFailure",
                ),
                migrations.DeleteModel(
                    name="AuditEvent",
                ),
            ],
        ),
    ]
