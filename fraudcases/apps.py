from django.apps import AppConfig


class FraudcasesConfig(AppConfig):
    """The case domain: cases, notes, attachments, tags and the audit log."""

    name = "fraudcases"
    verbose_name = "Cases"
    default_auto_field = "django.db.models.BigAutoField"
