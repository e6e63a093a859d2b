"""Output shapes of the transaction API (the public contract). Input is validated by
:mod:`scoring.schema`, which also describes it in the OpenAPI schema (``scoring.api.openapi``)."""

from __future__ import annotations

from rest_framework import serializers

from ..engine.fields import SUMMARY_FIELDS
from ..models import Transaction


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    weight = serializers.FloatField()


class TransactionResultSerializer(serializers.ModelSerializer):
    """Scoring result of one transaction; ``error`` says why a ``failed`` one was not scored."""

    reasons = ReasonSerializer(many=True)
    model_version = serializers.SlugRelatedField(slug_field="version", read_only=True)
    case_id = serializers.SerializerMethodField()

    class Meta:
        model = Transaction
        fields = [
            *SUMMARY_FIELDS,
            "status",
            "risk_score",
            "risk_level",
            "reasons",
            "model_version",
            "case_id",
            "scored_at",
            "error",
        ]

    def get_case_id(self, obj: Transaction) -> int | None:
        link = getattr(obj, "case_link", None)
        return link.case_id if link is not None else None


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
