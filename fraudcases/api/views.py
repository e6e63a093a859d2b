"""Case API: list, read, and act on cases with the same permissions and audit as the pages."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..permissions import user_can
from ..selectors import case_get, case_list
from .serializers import (
    AssignInSerializer,
    CaseDetailSerializer,
    CaseFilterSerializer,
    CaseSerializer,
    CloseInSerializer,
    NoteInSerializer,
    NoteSerializer,
    OptionalNoteInSerializer,
    ReasonInSerializer,
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


def _assign(case, user, data):
    return services.case_assign(case=case, actor=user, assignee=data["assignee"])


def _escalate(case, user, data):
    return services.case_escalate(case=case, actor=user, reason=data["reason"])


def _close(case, user, data):
    return services.case_close(
        case=case, actor=user, disposition=data["disposition"], note=data["note"]
    )


def _reopen(case, user, data):
    return services.case_reopen(case=case, actor=user, reason=data["reason"])


def _approve(case, user, data):
    return services.case_approve_closure(case=case, actor=user, note=data.get("note", ""))


def _reject(case, user, data):
    return services.case_reject_closure(case=case, actor=user, note=data.get("note", ""))


def _note(case, user, data):
    return services.case_note_add(case=case, actor=user, body=data["body"])


CASE_ACTIONS = {
    "assign": (AssignInSerializer, _assign),
    "escalate": (ReasonInSerializer, _escalate),
    "close": (CloseInSerializer, _close),
    "reopen": (ReasonInSerializer, _reopen),
    "approve": (OptionalNoteInSerializer, _approve),
    "reject": (OptionalNoteInSerializer, _reject),
    "note": (NoteInSerializer, _note),
}


class CaseActionView(APIView):
    """``POST /api/v1/cases/<id>/<action>``: ``assign``, ``escalate``, ``close``, ``reopen``,
    ``note`` (and ``approve`` / ``reject`` for four-eyes closures)."""

    permission_classes = [CanViewCases]

    @extend_schema(
        request=None,
        responses={200: CaseDetailSerializer, 201: NoteSerializer},
        parameters=[
            OpenApiParameter("action", str, OpenApiParameter.PATH, enum=list(CASE_ACTIONS))
        ],
        summary="Act on a case",
    )
    def post(self, request, pk: int, action: str):
        if action not in CASE_ACTIONS:
            raise Http404
        serializer_class, run = CASE_ACTIONS[action]
        case = _case_or_404(request, pk)
        payload = serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        result = run(case, request.user, payload.validated_data)
        if action == "note":
            return Response(NoteSerializer(result).data, status=201)
        return Response(CaseDetailSerializer(_case_or_404(request, pk)).data)
