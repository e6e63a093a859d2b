"""Case API serializers: input validation for filters and actions, and the case's shape."""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..models import Case, Note
from ..selectors import MAX_ID
from ..workflow import BY_SLUG, TEXT_MAX, Input


class CaseSerializer(serializers.ModelSerializer):
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    sla_state = serializers.CharField(read_only=True)
    # Routing: the queue the case landed in (its name; null for cases opened before queues).
    queue = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "account_id",
            "title",
            "status",
            "priority",
            "risk_score",
            "risk_level",
            "assignee",
            "disposition",
            "proposed_disposition",
            "tags",
            "created_at",
            "updated_at",
            "due_at",
            "sla_state",
            "escalated_at",
            "escalation_reason",
            "closed_at",
            "closed_by",
            "snoozed_until",
            "snooze_reason",
            "merged_into",
            "queue",
        ]


class CaseTransactionSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    currency = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    merchant_id = serializers.CharField()
    risk_score = serializers.FloatField(allow_null=True)
    risk_level = serializers.CharField()
    reasons = serializers.JSONField()


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Note
        fields = ["id", "author", "body", "created_at", "corrects", "deleted_at", "deletion_reason"]


class CaseDetailSerializer(CaseSerializer):
    transactions = CaseTransactionSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "transactions", "notes"]


class TagListField(serializers.ListField):
    """Tag names as a JSON list (``["mule"]``) or a comma-separated string."""

    child = serializers.CharField(max_length=50)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [t for t in data.split(",") if t.strip()]
        return super().to_internal_value(data)


def input_serializer_field(spec: Input) -> serializers.Field:
    """The API field for one workflow input (the same inputs the pages' forms have)."""
    if spec.kind == "disposition":
        return serializers.ChoiceField(
            choices=list(Case.CLOSING_DISPOSITIONS), required=spec.required
        )
    if spec.kind == "datetime":
        return serializers.DateTimeField(required=spec.required, help_text=spec.help)
    if spec.kind == "case":
        return serializers.IntegerField(
            required=spec.required, min_value=1, max_value=MAX_ID, help_text=spec.help
        )
    if spec.kind == "line":
        return serializers.CharField(required=spec.required, max_length=200)
    if spec.kind == "user":
        # Always named in the API (``null`` means nobody), so a forgotten field is a 400.
        return serializers.SlugRelatedField(
            slug_field="username",
            queryset=get_user_model().objects.filter(is_active=True),
            allow_null=not spec.required,
            help_text="Username, or null for nobody." if not spec.required else "Username.",
        )
    if spec.kind == "tags":
        return TagListField(required=spec.required, max_length=50)
    return serializers.CharField(
        max_length=TEXT_MAX, required=spec.required, allow_blank=not spec.required
    )


@cache
def action_input_serializer(slug: str) -> type[serializers.Serializer]:
    """The input serializer of the workflow action ``slug``."""
    action = BY_SLUG[slug]
    fields = {spec.name: input_serializer_field(spec) for spec in action.inputs}
    name = f"{slug.title().replace('-', '')}InSerializer"
    return type(name, (serializers.Serializer,), fields)


class CaseGraphSerializer(serializers.Serializer):
    """The shape of ``GET /api/v1/cases/<id>/graph`` (for the schema)."""

    nodes = serializers.ListField(child=serializers.DictField())
    edges = serializers.ListField(child=serializers.DictField())
    truncated = serializers.BooleanField()
