"""Input and output shapes of the transaction API (the public contract)."""

from __future__ import annotations

from decimal import Decimal

import pycountry
from django.conf import settings
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from ..models import Transaction

CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)


class AwareDateTimeField(serializers.Field):
    """ISO 8601 with an explicit zone; naive or unparseable values are refused, not guessed."""

    default_error_messages = {
        "invalid": "Not an ISO 8601 date-time (e.g. 2026-11-23T14:05:00Z).",
        "naive": "Date-time has no time zone; add 'Z' or an offset such as +01:00.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = parse_datetime(data.strip())
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        return value

    def to_representation(self, value):
        return value.isoformat()


class TransactionInSerializer(serializers.Serializer):
    """One transaction as sent by an external system. Unknown fields are rejected."""

    external_id = serializers.CharField(max_length=100)
    account_id = serializers.CharField(max_length=100)
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=True
    )
    currency = serializers.CharField(max_length=3, min_length=3, required=False)
    occurred_at = AwareDateTimeField()
    merchant_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    merchant_category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    channel = serializers.CharField(max_length=32, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, min_length=2, required=False, allow_blank=True)
    latitude = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    longitude = serializers.FloatField(
        min_value=-180, max_value=180, required=False, allow_null=True
    )
    device_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, allow_blank=True)
    counterparty_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Each transaction must be a JSON object."]}
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: ["Unknown field; see the API schema for allowed fields."]
                    for name in unknown
                }
            )
        return super().to_internal_value(data)

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        if value not in CURRENCIES:
            raise serializers.ValidationError(f"'{value}' is not an ISO 4217 currency code.")
        return value

    def validate_country(self, value: str) -> str:
        value = value.upper()
        if value and value not in COUNTRIES:
            raise serializers.ValidationError(f"'{value}' is not an ISO 3166 alpha-2 country code.")
        return value

    def validate(self, attrs):
        has_lat = attrs.get("latitude") is not None
        has_lon = attrs.get("longitude") is not None
        if has_lat != has_lon:
            missing = "longitude" if has_lat else "latitude"
            raise serializers.ValidationError({missing: ["latitude and longitude go together."]})
        attrs.setdefault("currency", settings.DEFAULT_CURRENCY)
        if not attrs.get("ip_address"):
            attrs["ip_address"] = None
        return attrs


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    weight = serializers.FloatField()


class TransactionResultSerializer(serializers.ModelSerializer):
    """Scoring result of one transaction."""

    reasons = ReasonSerializer(many=True)
    model_version = serializers.SlugRelatedField(slug_field="version", read_only=True)
    case_id = serializers.SerializerMethodField()

    class Meta:
        model = Transaction
        fields = [
            "external_id",
            "account_id",
            "amount",
            "currency",
            "occurred_at",
            "status",
            "risk_score",
            "risk_level",
            "reasons",
            "model_version",
            "case_id",
            "scored_at",
        ]

    def get_case_id(self, obj: Transaction) -> int | None:
        link = getattr(obj, "case_link", None)
        return link.case_id if link is not None else None


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
