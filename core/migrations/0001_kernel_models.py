"""The kernel's models (audit log, audit checks, sign-in failures) move here from ``fraudcases``.

State only: the tables keep their names (``db_table``), rows, indexes and triggers; nothing
in the database changes (fraudcases 0009 removes them from that app's state)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("fraudcases", "0008_case_snooze_merge"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="AuditCheck",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("ok", models.BooleanField()),
                        ("checked", models.PositiveBigIntegerField(default=0)),
                        ("anchors_checked", models.PositiveIntegerField(default=0)),
                        ("reason", models.TextField(blank=True, default="")),
                    ],
                    options={
                        "db_table": "fraudcases_auditcheck",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["-created_at"], name="audit_check_time")],
                    },
                ),
                migrations.CreateModel(
                    name="LoginFailure",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("username", models.CharField(max_length=150)),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "fraudcases_loginfailure",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(
                                fields=["username", "ip_address", "created_at"],
                                name="login_failure_key",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("created_at", models.DateTimeField()),
                        ("actor_label", models.CharField(max_length=150)),
                        ("action", models.CharField(max_length=64)),
                        ("object_type", models.CharField(blank=True, default="", max_length=64)),
                        ("object_id", models.CharField(blank=True, default="", max_length=64)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("note", models.TextField(blank=True, default="")),
                        ("request_id", models.CharField(blank=True, default="", max_length=64)),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("seq", models.PositiveBigIntegerField(unique=True)),
                        ("key_id", models.CharField(max_length=32)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64, unique=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "case",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="audit_events",
                                to="fraudcases.case",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "fraudcases_auditevent",
                        "ordering": ["id"],
                        "indexes": [
                            models.Index(fields=["object_type", "object_id"], name="audit_object"),
                            models.Index(fields=["action", "created_at"], name="audit_action"),
                            models.Index(fields=["created_at"], name="audit_time"),
                        ],
                    },
                ),
            ],
        ),
    ]
