"""fraudcases: project configuration and the case domain."""

from .celery import app as celery_app

__all__ = ("celery_app",)
