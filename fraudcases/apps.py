from django.apps import AppConfig


class FraudcasesConfig(AppConfig):
    """The case domain: cases, notes, attachments, tags, quality review and reports."""

    name = "fraudcases"
    verbose_name = "Cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import permissions

        # The case actions' roles and object rules join the one permission table (core).
        permissions.register()
        # Closures are sampled for quality review as soon as they commit (beat sweeps too).
        from .quality import receivers

        receivers.connect()
        # Account actions: the approval policy's system check (fraudcases.E101).
        from .services import account_actions  # noqa: F401
