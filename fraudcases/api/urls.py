from django.urls import path

from . import account_actions, views

urlpatterns = [
    path("cases", views.CaseListView.as_view(), name="api-cases"),
    path("cases/<int:pk>", views.CaseDetailView.as_view(), name="api-case-detail"),
    path("cases/<int:pk>/graph", views.CaseGraphView.as_view(), name="api-case-graph"),
    # Account actions (before the catch-all action path); core banking's result callback.
    path(
        "cases/<int:pk>/account-actions",
        account_actions.CaseAccountActionsView.as_view(),
        name="api-case-account-actions",
    ),
    path(
        "cases/<int:pk>/account-actions/<int:action_id>/approve",
        account_actions.AccountActionDecisionView.as_view(code="account_action.approve"),
        name="api-account-action-approve",
    ),
    path(
        "cases/<int:pk>/account-actions/<int:action_id>/reject",
        account_actions.AccountActionDecisionView.as_view(code="account_action.reject"),
        name="api-account-action-reject",
    ),
    path(
        "account-actions/<int:action_id>/result",
        account_actions.AccountActionResultView.as_view(),
        name="api-account-action-result",
    ),
    path("cases/<int:pk>/<slug:action>", views.CaseActionView.as_view(), name="api-case-action"),
]
