"""Transaction API: ingest (async), score (sync), read a result."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from fraudcases.permissions import user_can

from ..selectors import transaction_get_for_client
from ..services.ingest import transactions_ingest
from ..services.scoring import NoChampionModelError, transactions_score
from .authentication import IsApiClient
from .serializers import (
    IngestResultSerializer,
    TransactionInSerializer,
    TransactionResultSerializer,
)


class CanReadTransactions(BasePermission):
    """API clients, or signed-in users whose role may view transactions."""

    def has_permission(self, request, view) -> bool:
        return IsApiClient().has_permission(request, view) or user_can(
            request.user, "transaction.view"
        )


def _payload(request):
    try:
        return request.data
    except RequestDataTooBig:
        return None


def _too_large() -> Response:
    return Response(
        {"detail": f"Request body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _validate_items(items: list) -> tuple[list[dict] | None, dict]:
    """Validate every item; return (valid data, errors by item index)."""
    valid, errors = [], {}
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        serializer = TransactionInSerializer(data=item)
        if serializer.is_valid():
            data = serializer.validated_data
            first = seen.setdefault(data["external_id"], index)
            if first != index:
                errors[str(index)] = {
                    "external_id": [f"Repeats the external_id of item {first} in this batch."]
                }
            valid.append(dict(data))
        else:
            errors[str(index)] = serializer.errors
    return (None if errors else valid), errors


class TransactionIngestView(APIView):
    """``POST /api/v1/transactions``: one object or ``{"transactions": [...]}`` (≤ 5,000)."""

    permission_classes = [IsApiClient]

    @extend_schema(
        request=TransactionInSerializer(many=True),
        responses={202: IngestResultSerializer, 400: OpenApiResponse(description="Invalid items")},
        summary="Submit transactions for asynchronous scoring",
    )
    def post(self, request):
        data = _payload(request)
        if data is None:
            return _too_large()
        if isinstance(data, dict) and "transactions" in data:
            extra = sorted(set(data) - {"transactions"})
            if extra:
                return Response(
                    {"detail": "Invalid input.", "errors": {k: ["Unknown field."] for k in extra}},
                    status=400,
                )
            items = data["transactions"]
            if not isinstance(items, list):
                return Response(
                    {"detail": "Invalid input.", "errors": {"transactions": ["Must be a list."]}},
                    status=400,
                )
        elif isinstance(data, dict):
            items = [data]
        else:
            raise ParseError('Send one transaction object or {"transactions": [...]}.')
        if not items:
            return Response(
                {"detail": "Invalid input.", "errors": {"transactions": ["The batch is empty."]}},
                status=400,
            )
        if len(items) > settings.INGEST_MAX_BATCH:
            return Response(
                {
                    "detail": f"Batch of {len(items)} transactions exceeds the limit of "
                    f"{settings.INGEST_MAX_BATCH}; split it into smaller batches."
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        valid, errors = _validate_items(items)
        if valid is None:
            return Response(
                {
                    "detail": f"{len(errors)} of {len(items)} transactions are invalid; "
                    "nothing was stored.",
                    "errors": errors,
                },
                status=400,
            )
        result = transactions_ingest(items=valid, api_key=request.auth)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates},
            status=status.HTTP_202_ACCEPTED,
        )


class TransactionScoreView(APIView):
    """``POST /api/v1/transactions/score``: store and score one transaction in the request."""

    permission_classes = [IsApiClient]

    @extend_schema(
        request=TransactionInSerializer,
        responses={200: TransactionResultSerializer},
        summary="Score one transaction synchronously",
    )
    def post(self, request):
        data = _payload(request)
        if data is None:
            return _too_large()
        serializer = TransactionInSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        result = transactions_ingest(
            items=[dict(serializer.validated_data)], api_key=request.auth, mode="sync"
        )
        if result.ids:
            try:
                transactions_score(transaction_ids=result.ids)
            except NoChampionModelError as exc:
                return Response(
                    {"detail": f"{exc} The transaction is stored and will be scored later."},
                    status=status.HTTP_503_SERVICE_UNAVAILABLE,
                )
        txn = transaction_get_for_client(external_id=serializer.validated_data["external_id"])
        return Response(TransactionResultSerializer(txn).data, status=200)


class TransactionDetailView(APIView):
    """``GET /api/v1/transactions/<external_id>``: status and scoring result."""

    permission_classes = [CanReadTransactions]

    @extend_schema(responses={200: TransactionResultSerializer}, summary="Read a scoring result")
    def get(self, request, external_id: str):
        txn = transaction_get_for_client(external_id=external_id)
        if txn is None:
            return Response(
                {"detail": f"No transaction with external_id '{external_id}'."}, status=404
            )
        return Response(TransactionResultSerializer(txn).data)
