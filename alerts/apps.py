from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Routing of risky cases to people and systems (email, Slack, webhooks)."""

    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
