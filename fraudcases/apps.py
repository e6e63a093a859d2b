from django.apps import AppConfig


class FraudcasesConfig(AppConfig):
    """The case domain: cases, notes, attachments, tags and the audit log."""

    name = "fraudcases"
    verbose_name = "Cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .runtime import runtime_dirs_prepare, sqlite_files_private

        # Start-up, not settings import: make VAR_DIR and the directories below it (mode 700).
        runtime_dirs_prepare()
        connection_created.connect(sqlite_files_private, dispatch_uid="fraudcases-sqlite-mode")
        # SQLite's append-only audit triggers ask a function each connection must have.
        from .audit import install_sqlite_guard

        install_sqlite_guard()
        # Closures are sampled for quality review as soon as they commit (beat sweeps too).
        from .quality import receivers

        receivers.connect()
        # Account actions: the approval policy's system check (fraudcases.E101).
        from .services import account_actions  # noqa: F401
