"""The transaction field list, defined once (pure Python: no Django, no pandas).

Everything that names the fields of a transaction derives from here: the ingestion validator
(:mod:`scoring.schema`), the CSV importer's mappable fields, the synthetic generator's columns,
the feature frames and the API's OpenAPI description. ``scoring.models.Transaction`` declares
the same columns for the database; a test checks that both agree (names and text lengths).
"""

from __future__ import annotations

# The fields an external system may send, in the order of the API contract.
TRANSACTION_FIELDS: tuple[str, ...] = (
    "external_id",
    "account_id",
    "amount",
    "currency",
    "occurred_at",
    "merchant_id",
    "merchant_category",
    "channel",
    "country",
    "latitude",
    "longitude",
    "device_id",
    "ip_address",
    "counterparty_id",
    "metadata",
)
# What names a transaction in a list or a result (the admin list, the API's result): the first
# five fields of the contract.
SUMMARY_FIELDS: tuple[str, ...] = TRANSACTION_FIELDS[:5]
REQUIRED_FIELDS: tuple[str, ...] = ("external_id", "account_id", "amount", "occurred_at")
# Free-text identifier fields and their maximum length (the database column's length).
TEXT_FIELDS: dict[str, int] = {
    "external_id": 100,
    "account_id": 100,
    "merchant_id": 100,
    "merchant_category": 100,
    "channel": 32,
    "device_id": 100,
    "counterparty_id": 100,
}
# What the features read of a transaction (``scoring.engine.features.INPUT_COLUMNS`` is these
# with the row's id first), and so what the history index of ``scoring.models`` covers.
NOT_FEATURE_INPUTS: tuple[str, ...] = ("external_id", "currency", "ip_address", "metadata")
FEATURE_INPUT_FIELDS: tuple[str, ...] = tuple(
    f for f in TRANSACTION_FIELDS if f not in NOT_FEATURE_INPUTS
)
# Ground truth that history (generator, labelled CSV import) may carry; never sent by the API.
LABEL_FIELDS: tuple[str, ...] = ("is_fraud", "fraud_pattern")
FRAUD_PATTERN_MAX_LENGTH = 32
# Columns of a flat table of transactions (a CSV file, the generator's frame): every field but
# the free-form metadata object, then the labels.
TABLE_COLUMNS: tuple[str, ...] = (
    *(f for f in TRANSACTION_FIELDS if f != "metadata"),
    *LABEL_FIELDS,
)
