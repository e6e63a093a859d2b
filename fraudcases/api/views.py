"""Case API: list, read, and act on cases with the same permissions and audit as the pages."""

from __future__ import annotations

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import user_can

from ..filters import CaseFilter
from ..models import Note
from ..selectors import case_get, case_graph, case_list
from ..workflow import API, actions_on
from .serializers import (
    CaseDetailSerializer,
    CaseGraphSerializer,
    CaseSerializer,
    NoteSerializer,
    action_input_serializer,
)


class CanViewCases(BasePermission):
    """Signed-in people whose role may see cases (API keys are for systems: refused)."""

    message = "Your role does not allow 'case.view'."

    def has_permission(self, request, view) -> bool:
        return user_can(request.user, "case.view")


class CaseListView(ListAPIView):
    """``GET /api/v1/cases``: the queue's filters (``fraudcases.filters.CaseFilter``: status,
    priority, assignee ``mine``/``me``/``none``/username, account, risk, age, SLA, snoozed,
    tag, search, date range, ``sort`` by any column). A value that is not valid is a 400
    naming the field."""

    permission_classes = [CanViewCases]
    serializer_class = CaseSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter

    def get_queryset(self):
        return case_list(user=self.request.user).prefetch_related("tags")

    @extend_schema(summary="List cases")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _case_or_404(request, pk: int):
    case = case_get(user=request.user, case_id=pk)
    if case is None:
        raise Http404
    return case


class CaseDetailView(APIView):
    """``GET /api/v1/cases/<id>``."""

    permission_classes = [CanViewCases]

    @extend_schema(responses=CaseDetailSerializer, summary="Read a case")
    def get(self, request, pk: int):
        return Response(CaseDetailSerializer(_case_or_404(request, pk)).data)


class CaseGraphView(APIView):
    """``GET /api/v1/cases/<id>/graph``: the case's entity graph (``nodes``, ``edges``,
    ``truncated``; see ``fraudcases.selectors.case_graph``)."""

    permission_classes = [CanViewCases]

    @extend_schema(responses=CaseGraphSerializer, summary="Entity graph of a case")
    def get(self, request, pk: int):
        return Response(case_graph(user=request.user, case=_case_or_404(request, pk)))


API_ACTIONS = {a.slug: a for a in actions_on(API)}


class CaseActionView(APIView):
    """``POST /api/v1/cases/<id>/<action>``: every API action of the workflow table
    (``fraudcases.workflow``): ``take``, ``assign``, ``start-review``, ``escalate``, ``close``,
    ``request-approval``, ``approve``, ``reject``, ``reopen``, ``note``."""

    permission_classes = [CanViewCases]

    @extend_schema(
        request=None,
        responses={200: CaseDetailSerializer, 201: NoteSerializer},
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH, enum=list(API_ACTIONS))],
        summary="Act on a case",
    )
    def post(self, request, pk: int, action: str):
        spec = API_ACTIONS.get(action)
        if spec is None:
            raise Http404
        case = _case_or_404(request, pk)
        payload = action_input_serializer(spec.slug)(data=request.data)
        payload.is_valid(raise_exception=True)
        result = spec.run(case=case, actor=request.user, data=payload.validated_data)
        if isinstance(result, Note):
            return Response(NoteSerializer(result).data, status=201)
        return Response(CaseDetailSerializer(_case_or_404(request, pk)).data)
