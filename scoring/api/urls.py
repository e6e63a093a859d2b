from django.urls import path

from . import views

urlpatterns = [
    path("transactions", views.TransactionIngestView.as_view(), name="api-transactions"),
    path("transactions/score", views.TransactionScoreView.as_view(), name="api-transactions-score"),
    path(
        "transactions/<str:external_id>",
        views.TransactionDetailView.as_view(),
        name="api-transaction-detail",
    ),
]
