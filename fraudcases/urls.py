"""Root URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import views as core_views

from . import views
from .views import account_actions, overview, qa, reports, routing

urlpatterns = [
    path("", RedirectView.as_view(url="/cases/", permanent=False)),
    path("accounts/login/", core_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("cases/", views.case_queue, name="case-queue"),
    path("cases/live/", views.case_queue_live, name="case-queue-live"),
    path("cases/next/", views.case_next, name="case-next"),
    path("cases/duty/", routing.my_duty, name="case-duty"),
    path("cases/bulk/", views.case_bulk, name="case-bulk"),
    path("cases/<int:pk>/", views.case_detail, name="case-detail"),
    path("cases/<int:pk>/attachments/", views.attachment_upload, name="case-attachment-upload"),
    # Reports before the catch-all action path (``sar`` is not a workflow action).
    path("cases/<int:pk>/report.pdf", reports.case_report, name="case-report"),
    path("cases/<int:pk>/sar/", reports.case_sar, name="case-sar"),
    # Account actions to core banking (before the catch-all action path).
    path(
        "cases/<int:pk>/account-actions/",
        account_actions.case_account_actions,
        name="case-account-actions",
    ),
    path(
        "cases/<int:pk>/account-actions/<int:action_id>/approve/",
        account_actions.account_action_approve_view,
        name="case-account-action-approve",
    ),
    path(
        "cases/<int:pk>/account-actions/<int:action_id>/reject/",
        account_actions.account_action_reject_view,
        name="case-account-action-reject",
    ),
    path("cases/<int:pk>/<slug:action>/", views.case_action, name="case-action"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    path("supervisor/", views.supervisor, name="supervisor"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/data.json", overview.dashboard_data, name="dashboard-data"),
    path("dashboard/<slug:chart>.csv", overview.dashboard_csv, name="dashboard-csv"),
    path("qa/", qa.qa_queue, name="qa-queue"),
    path("qa/<int:pk>/", qa.qa_review, name="qa-review"),
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("api/v1/", include("fraudcases.api.urls")),
    path("api/v1/", include("scoring.api.urls")),
    path("", include("scoring.urls")),
    path("alerts/", include("alerts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
