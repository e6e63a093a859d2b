from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Ingestion, features, detectors and the model registry."""

    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"
