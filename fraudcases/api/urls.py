from django.urls import path

from . import views

urlpatterns = [
    path("cases", views.CaseListView.as_view(), name="api-cases"),
    path("cases/<int:pk>", views.CaseDetailView.as_view(), name="api-case-detail"),
    path("cases/<int:pk>/graph", views.CaseGraphView.as_view(), name="api-case-graph"),
    path("cases/<int:pk>/<slug:action>", views.CaseActionView.as_view(), name="api-case-action"),
]
