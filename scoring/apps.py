from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Ingestion, features, detectors and the model registry."""

    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.metrics import collector_register

        from . import checks, permissions  # noqa: F401 (checks registers on import)
        from .metrics import ScoringStateCollector

        permissions.register()
        collector_register(ScoringStateCollector())
