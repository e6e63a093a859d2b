"""Case API: list, read, and act on cases with the same permissions and audit as the pages."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Note
from ..permissions import user_can
from ..selectors import case_get, case_list
from ..workflow import API, actions_on
from .serializers import (
    CaseDetailSerializer,
    CaseFilterSerializer,
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
    """``GET /api/v1/cases``: filter by status, priority, assignee, account, date range."""

    permission_classes = [CanViewCases]
    serializer_class = CaseSerializer

    def get_queryset(self):
        params = CaseFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return case_list(user=self.request.user, filters=params.validated_data).prefetch_related(
            "tags"
        )

    @extend_schema(
        parameters=[CaseFilterSerializer],
        summary="List cases",
    )
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
