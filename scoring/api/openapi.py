"""What the OpenAPI schema says about the transaction API's input: generated from
:func:`scoring.schema.transaction_json_schema`, so the description cannot drift from the
validator. The components are added by a drf-spectacular post-processing hook
(``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse

from ..schema import transaction_json_schema

_COMPONENTS = "#/components/schemas/"
TRANSACTION = "TransactionIn"
SUBMISSION = "TransactionSubmission"
PROBLEM = "ErrorDetail"

TRANSACTION_REQUEST = {"application/json": {"$ref": _COMPONENTS + TRANSACTION}}
SUBMISSION_REQUEST = {"application/json": {"$ref": _COMPONENTS + SUBMISSION}}
_PROBLEM_RESPONSE = {"$ref": _COMPONENTS + PROBLEM}
ERROR_RESPONSES = {
    400: OpenApiResponse(_PROBLEM_RESPONSE, description="Invalid input; errors by item and field"),
    413: OpenApiResponse(_PROBLEM_RESPONSE, description="Body or batch larger than the limit"),
}


def components() -> dict[str, dict]:
    """The request components: one transaction, and the batch envelope."""
    transaction = transaction_json_schema()
    return {
        TRANSACTION: transaction,
        SUBMISSION: {
            "description": 'One transaction object, or {"transactions": [...]} with at most '
            f"{settings.INGEST_MAX_BATCH:,}. Any invalid item refuses the whole batch.",
            "oneOf": [
                {"$ref": _COMPONENTS + TRANSACTION},
                {
                    "type": "object",
                    "properties": {
                        "transactions": {
                            "type": "array",
                            "items": {"$ref": _COMPONENTS + TRANSACTION},
                            "minItems": 1,
                            "maxItems": settings.INGEST_MAX_BATCH,
                        }
                    },
                    "required": ["transactions"],
                    "additionalProperties": False,
                },
            ],
        },
        PROBLEM: {
            "type": "object",
            "properties": {
                "detail": {"type": "string"},
                "errors": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": 'By item index, then field: {"3": {"amount": ["..."]}}.',
                },
            },
            "required": ["detail"],
        },
    }


def add_transaction_components(result, generator, request, public):
    """drf-spectacular post-processing hook: add :func:`components` to the schema."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(components())
    return result
