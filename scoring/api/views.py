"""Transaction API: ingest (async), score (sync), read a result."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import user_can

from ..models import Transaction
from ..schema import batch_items, single_item
from ..selectors import transaction_get_for_client
from ..services.ingest import transactions_submit
from ..services.scoring import transaction_score_now
from .authentication import IsApiClient
from .openapi import ERROR_RESPONSES, SUBMISSION_REQUEST, TRANSACTION_REQUEST
from .parsers import BoundedJSONParser
from .serializers import IngestResultSerializer, TransactionResultSerializer


class CanReadTransactions(BasePermission):
    """API clients, or signed-in users whose role may view transactions."""

    def has_permission(self, request, view) -> bool:
        return IsApiClient().has_permission(request, view) or user_can(
            request.user, "transaction.view"
        )


class TransactionIngestView(APIView):
    """``POST /api/v1/transactions``: one object or ``{"transactions": [...]}`` (≤ 5,000)."""

    permission_classes = [IsApiClient]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=SUBMISSION_REQUEST,
        responses={202: IngestResultSerializer, **ERROR_RESPONSES},
        summary="Submit transactions for asynchronous scoring",
    )
    def post(self, request):
        result = transactions_submit(
            items=batch_items(request.data), source=Transaction.Source.API, api_key=request.auth
        )
        body = {"accepted": result.accepted, "duplicates": result.duplicates}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class TransactionScoreView(APIView):
    """``POST /api/v1/transactions/score``: store and score one transaction in the request."""

    permission_classes = [IsApiClient]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=TRANSACTION_REQUEST,
        responses={
            200: TransactionResultSerializer,
            **ERROR_RESPONSES,
            503: OpenApiResponse(description="Stored, but no usable model: scored later"),
        },
        summary="Score one transaction synchronously",
    )
    def post(self, request):
        txn = transaction_score_now(item=single_item(request.data), api_key=request.auth)
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
