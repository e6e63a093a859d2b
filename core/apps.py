from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel: errors, roles and permissions, the audit chain, request ids and
    logging, metrics, the outage responses, sign-in protection. It imports no app of ours."""

    name = "core"
    verbose_name = "Core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .audit import install_sqlite_guard
        from .runtime import runtime_dirs_prepare, sqlite_files_private

        # Start-up, not settings import: make VAR_DIR and the directories below it (mode 700).
        runtime_dirs_prepare()
        connection_created.connect(sqlite_files_private, dispatch_uid="core-sqlite-mode")
        # SQLite's append-only audit triggers ask a function each connection must have.
        install_sqlite_guard()
