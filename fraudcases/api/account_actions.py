"""Account action API: list and request them on a case, approve or reject them (people), and
core banking's result callback (API key). Thin: parse, one service call, the action's shape.

- ``GET /api/v1/cases/<id>/account-actions``; ``POST`` ``{"kind", "reason", "merchant_id"}``
- ``POST /api/v1/cases/<id>/account-actions/<action id>/approve`` ``{"note"}`` (optional)
- ``POST /api/v1/cases/<id>/account-actions/<action id>/reject`` ``{"note"}`` (required)
- ``POST /api/v1/account-actions/<action id>/result``
  ``{"idempotency_key", "outcome": "done"|"failed", "reference", "detail"}`` (``Api-Key``)
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import ensure_allowed
from scoring.api.authentication import IsApiClient

from ..account_actions.selectors import (
    account_action_for_client,
    account_action_get,
    account_actions_for_case,
)
from ..models import AccountAction
from ..services.account_actions import (
    DETAIL_MAX,
    OUTCOMES,
    REFERENCE_MAX,
    account_action_approve,
    account_action_reject,
    account_action_request,
    account_action_result,
)
from ..workflow import TEXT_MAX
from .views import CanViewCases, _case_or_404


class AccountActionSerializer(serializers.ModelSerializer):
    """An account action as the API shows it (people and, in webhooks, core banking)."""

    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = AccountAction
        fields = [
            "id",
            "case",
            "kind",
            "kind_label",
            "account_id",
            "merchant_id",
            "reason",
            "status",
            "status_label",
            "needs_approval",
            "idempotency_key",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "delivered_at",
            "delivery_ref",
            "result_at",
            "result_reference",
            "result_detail",
            "failure_reason",
        ]
        read_only_fields = fields


class _Strict(serializers.Serializer):
    """Unknown fields are refused (a misspelt ``merchant`` is an error, not ignored)."""

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if self.initial_data else []
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class AccountActionRequestSerializer(_Strict):
    kind = serializers.ChoiceField(choices=AccountAction.Kind.choices)
    reason = serializers.CharField(max_length=TEXT_MAX)
    merchant_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )


class AccountActionDecisionSerializer(_Strict):
    note = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class AccountActionResultSerializer(_Strict):
    idempotency_key = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=list(OUTCOMES))
    reference = serializers.CharField(
        max_length=REFERENCE_MAX, required=False, allow_blank=True, default=""
    )
    detail = serializers.CharField(
        max_length=DETAIL_MAX, required=False, allow_blank=True, default=""
    )


def _valid(serializer_class, request) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    payload = serializer_class(data=request.data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


class CaseAccountActionsView(APIView):
    """``GET``: the case's account actions, newest first; ``POST``: request one (201)."""

    permission_classes = [CanViewCases]

    @extend_schema(responses=AccountActionSerializer(many=True), summary="List account actions")
    def get(self, request, pk: int):
        case = _case_or_404(request, pk)
        actions = account_actions_for_case(user=request.user, case=case)
        return Response(AccountActionSerializer(actions, many=True).data)

    @extend_schema(
        request=AccountActionRequestSerializer,
        responses={201: AccountActionSerializer},
        summary="Request an account action",
    )
    def post(self, request, pk: int):
        ensure_allowed(request.user, "account_action.request")  # the role before the input
        case = _case_or_404(request, pk)
        data = _valid(AccountActionRequestSerializer, request)
        action = account_action_request(case=case, actor=request.user, **data)
        return Response(AccountActionSerializer(action).data, status=201)


DECISIONS = {
    "account_action.approve": account_action_approve,
    "account_action.reject": account_action_reject,
}


class AccountActionDecisionView(APIView):
    """``POST …/approve`` (note optional: the action goes to core banking) or ``…/reject``
    (note required: it is never sent), by a supervisor who did not request it. ``code`` names
    the decision (set per URL)."""

    permission_classes = [CanViewCases]
    code = "account_action.approve"

    @extend_schema(
        request=AccountActionDecisionSerializer,
        responses=AccountActionSerializer,
        summary="Approve or reject an account action",
    )
    def post(self, request, pk: int, action_id: int):
        ensure_allowed(request.user, self.code)  # the role before the input
        case = _case_or_404(request, pk)
        action = account_action_get(user=request.user, case=case, action_id=action_id)
        if action is None:
            raise Http404
        data = _valid(AccountActionDecisionSerializer, request)
        action = DECISIONS[self.code](action=action, actor=request.user, note=data["note"])
        return Response(AccountActionSerializer(action).data)


class AccountActionResultView(APIView):
    """``POST``: core banking reports what it did (``Authorization: Api-Key``). 200 with the
    action; the same outcome again is a no-op (200), a different one 409."""

    permission_classes = [IsApiClient]

    @extend_schema(
        request=AccountActionResultSerializer,
        responses=AccountActionSerializer,
        summary="Core banking: report an account action's result",
    )
    def post(self, request, action_id: int):
        action = account_action_for_client(action_id=action_id)
        if action is None:
            raise Http404
        data = _valid(AccountActionResultSerializer, request)
        action, _changed = account_action_result(
            action=action,
            client=request.user,
            outcome=data["outcome"],
            idempotency_key=str(data["idempotency_key"]),
            reference=data["reference"],
            detail=data["detail"],
        )
        return Response(AccountActionSerializer(action).data)
