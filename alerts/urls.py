"""``/alerts/`` pages. URL names start with ``alerts-`` (the permission matrix keys on them)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.alerts_home, name="alerts-home"),
    path("channels/new/", views.channel_create_view, name="alerts-channel-create"),
    path("channels/<int:pk>/", views.channel_edit_view, name="alerts-channel-edit"),
    path("channels/<int:pk>/test/", views.channel_test_view, name="alerts-channel-test"),
    path("channels/<int:pk>/pause/", views.channel_pause_view, name="alerts-channel-pause"),
    path("channels/<int:pk>/resume/", views.channel_resume_view, name="alerts-channel-resume"),
    path("rules/new/", views.rule_create_view, name="alerts-rule-create"),
    path("rules/<int:pk>/", views.rule_edit_view, name="alerts-rule-edit"),
    path("deliveries/<int:pk>/", views.delivery_detail_view, name="alerts-delivery-detail"),
    path("deliveries/<int:pk>/resend/", views.delivery_resend_view, name="alerts-delivery-resend"),
]
