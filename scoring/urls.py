"""Pages of the scoring app: the model registry and detection rules.

URL names start with ``models-`` or ``rules-`` (the permission-matrix test keys on them).
"""

from django.urls import path

from . import views

urlpatterns = [
    path("models/", views.model_list, name="models-list"),
    path("models/rollback/", views.model_rollback_view, name="models-rollback"),
    path("models/<int:pk>/", views.model_detail, name="models-detail"),
    path("models/<int:pk>/promote/", views.model_promote_view, name="models-promote"),
    path("models/<int:pk>/challenger/", views.model_challenger_view, name="models-challenger"),
    path("models/<int:pk>/retire/", views.model_retire_view, name="models-retire"),
    path("rules/", views.rule_list, name="rules-list"),
    path("rules/new/", views.rule_create_view, name="rules-create"),
    path("rules/<int:pk>/", views.rule_edit_view, name="rules-edit"),
    path("rules/<int:pk>/toggle/", views.rule_toggle_view, name="rules-toggle"),
]
