import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _tombstone_fields(model_name):
    return [
        migrations.AddField(
            model_name=model_name,
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name=model_name,
            name="deleted_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name=model_name,
            name="deletion_reason",
            field=models.TextField(blank=True, default=""),
        ),
    ]


class Migration(migrations.Migration):
    """Notes and attachments are removed only as tombstones; a note may correct another."""

    dependencies = [
        ("fraudcases", "0004_audit_keyed_chain"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        *_tombstone_fields("note"),
        *_tombstone_fields("attachment"),
        migrations.AddField(
            model_name="note",
            name="corrects",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="corrections",
                to="fraudcases.note",
            ),
        ),
    ]
