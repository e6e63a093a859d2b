"""The one ingestion validator (scoring.schema): rules, bounds, messages, and property tests."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from scoring.engine.fields import TEXT_FIELDS, TRANSACTION_FIELDS
from scoring.models import Transaction
from scoring.schema import (
    BatchValidationError,
    PayloadTooLargeError,
    batch_items,
    json_depth,
    loads_bounded,
    transaction_json_schema,
    validate_items,
    validate_transactions,
)

GOOD = {
    "external_id": "ext-1",
    "account_id": "acct-1",
    "amount": "125.40",
    "currency": "EUR",
    "occurred_at": "2026-11-20T10:15:00+01:00",
    "latitude": 52.52,
    "longitude": 13.4,
    "ip_address": "203.0.113.7",
    "metadata": {"terminal": "T-9", "risk_hint": 0.2},
}


def errors_of(**overrides) -> dict[str, list[str]]:
    _, errors = validate_items([{**GOOD, **overrides}])
    return errors.get("0", {})


def test_a_good_item_becomes_model_values():
    (item,) = validate_transactions([GOOD])
    assert item["amount"] == Decimal("125.40")
    assert item["occurred_at"] == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    assert item["merchant_id"] == "" and item["country"] == ""
    assert set(item) == set(TRANSACTION_FIELDS)


def test_the_field_list_matches_the_model():
    columns = {f.name: f for f in Transaction._meta.get_fields()}
    for name in TRANSACTION_FIELDS:
        assert name in columns, name
    for name, length in TEXT_FIELDS.items():
        assert columns[name].max_length == length, name


def test_errors_come_by_item_index_and_field_and_nothing_passes():
    with pytest.raises(BatchValidationError) as info:
        validate_transactions([GOOD, {**GOOD, "external_id": "b", "amount": "-1"}, 7])
    errors = info.value.extra["errors"]
    assert set(errors) == {"1", "2"}
    assert errors["1"] == {"amount": ["Ensure this value is greater than or equal to 0.01."]}
    assert errors["2"] == {"non_field_errors": ["Each transaction must be a JSON object."]}
    assert isinstance(info.value, ApplicationError) and info.value.status_code == 400


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2300-01-01T00:00:00Z", "at most 1 day in the future"),
        ("0001-01-01T00:00:00+14:00", "before 1970-01-01"),
        ("1969-12-31T23:59:59Z", "before 1970-01-01"),
        ("-0044-03-15T12:00:00Z", "ISO 8601"),
        ("2026-11-20T10:15:00", "no time zone"),
        (1700000000, "ISO 8601"),
        ("x" * 1000, "ISO 8601"),
        (None, "may not be null"),
    ],
)
def test_occurred_at_bounds(value, message):
    assert message in errors_of(occurred_at=value)["occurred_at"][0]


def test_occurred_at_window_comes_from_settings(settings):
    settings.INGEST_OCCURRED_AT_MIN = datetime(2026, 11, 21, tzinfo=UTC)
    assert "before 2026-11-21" in errors_of()["occurred_at"][0]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"score": float("inf")}, "finite"),
        ({"a": {"b": {"c": {"d": 1}}}}, "deeper than 3"),
        ({str(i): i for i in range(51)}, "At most 50 keys"),
        ({"a": {str(i): i for i in range(30)}, "b": {str(i): i for i in range(30)}}, "50 keys"),
        ({"x": "y" * 9000}, "8,192 bytes"),
        ({"x": "a\x00b"}, "Null characters"),
        ({"a\x00": 1}, "Null characters"),
        ({"x": "\ud800"}, "Surrogate"),
        ({"x": 2**70}, "64-bit"),
        ([1, 2], 'got type "list"'),
        (None, "may not be null"),
    ],
)
def test_metadata_bounds(metadata, message):
    assert message in errors_of(metadata=metadata)["metadata"][0]


@pytest.mark.parametrize("field", ["external_id", "account_id", "merchant_id", "device_id"])
def test_strings_are_capped_and_clean(field):
    limit = TEXT_FIELDS[field]
    assert "no more than" in errors_of(**{field: "x" * (limit + 1)})[field][0]
    assert "Null characters" in errors_of(**{field: "a\x00"})[field][0]
    assert "Surrogate" in errors_of(**{field: "a\udfff"})[field][0]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e999", "digits in total"),
        ("NaN", "valid number"),
        (0.1 + 0.2, "decimal places"),
        (True, "valid number"),
        ("1" * 100, "valid number"),
        ("1" * 17, "16 digits before the decimal point"),
    ],
)
def test_amount_bounds(amount, message):
    assert message in errors_of(amount=amount)["amount"][0]


def test_ip_address_with_zone_index_is_refused():
    assert "valid IPv4 or IPv6" in errors_of(ip_address="fe80::1%eth0")["ip_address"][0]
    (item,) = validate_transactions([{**GOOD, "ip_address": "2001:DB8::1"}])
    assert item["ip_address"] == "2001:db8::1"


def test_deep_bodies_are_refused_before_parsing():
    for body in (b"[" * 100_000, b'{"metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5001):
        with pytest.raises(ApplicationError, match="nested deeper than 8"):
            loads_bounded(body)
    assert json_depth(b'{"a": "[[[[[[[[[[[[", "b": "\\"[[[["}') == 1
    assert json_depth(b'{"a": [[{"b": []}]]}') == 5


def test_body_size_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    with pytest.raises(PayloadTooLargeError):
        loads_bounded(b'{"transactions": []}')


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"null", "null"), (b"[1]", "an array"), (b'"x"', "a string"), (b"3", "a number")],
)
def test_the_envelope_names_what_was_expected(body, kind):
    with pytest.raises(ApplicationError, match=rf"Send one transaction object.*got {kind}"):
        batch_items(loads_bounded(body))


def test_json_schema_describes_every_field():
    schema = transaction_json_schema()
    assert list(schema["properties"]) == list(TRANSACTION_FIELDS)
    assert schema["additionalProperties"] is False


# --- property tests: any input gives a result or a clear error -------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=19, max_value=5000).map(lambda digits: -(10**digits))
    | st.floats()
    | st.text(max_size=20)
    | st.datetimes(timezones=st.none() | st.timezones()),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELD_VALUES = st.fixed_dictionaries(
    {}, optional={name: JSON for name in TRANSACTION_FIELDS} | {"extra": JSON}
)


@pytest.mark.slow  # a property test of several seconds: make test, not test-fast
@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(items=st.lists(FIELD_VALUES | JSON, min_size=1, max_size=5))
def test_any_items_give_clean_values_or_errors_by_index_and_field(items):
    cleaned, errors = validate_items(items)
    assert len(cleaned) == len(items)
    for index, item in enumerate(cleaned):
        if item is None:
            problems = errors[str(index)]
            assert problems and all(
                isinstance(m, str) and m for msgs in problems.values() for m in msgs
            )
            continue
        assert str(index) not in errors
        assert item["amount"] >= Decimal("0.01") and item["occurred_at"].tzinfo is UTC
        assert len(orjson.dumps(item["metadata"])) <= 8192
        for name, limit in TEXT_FIELDS.items():
            assert len(item[name]) <= limit and "\x00" not in item[name]


# What can be sent as JSON text (no lone surrogates, 64-bit integers).
SENDABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=8), inner)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, database=None)
@given(body=st.binary(max_size=200) | SENDABLE.map(orjson.dumps))
def test_any_body_parses_or_gives_a_clear_error(body):
    try:
        items = batch_items(loads_bounded(body))
    except ApplicationError as exc:
        assert exc.message
        return
    assert isinstance(items, list) and items


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _depth_by_regex(body: bytes) -> int:
    """The first ``json_depth``: strings removed by a regular expression (the reference)."""
    if b"[" not in body and b"{" not in body:
        return 0
    keep = bytes(b for b in range(256) if b not in b'"[]{}')
    structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, keep)
    brackets = re.sub(rb'"[^"]*"', b"", structure).replace(b'"', b"")
    if not brackets:
        return 0
    steps = [1 if byte in b"[{" else -1 for byte in brackets]
    return max(itertools.accumulate(steps))


@settings(max_examples=500, deadline=None, database=None)
@given(value=SENDABLE)
def test_the_depth_of_a_json_text_is_the_depth_of_its_value(value):
    assert json_depth(orjson.dumps(value)) == _depth(value)


@settings(max_examples=500, deadline=None, database=None)
@given(body=st.binary(max_size=300) | st.text('"[]{}\\ab', max_size=60).map(str.encode))
def test_the_depth_of_any_bytes_is_what_the_regular_expression_found(body):
    assert json_depth(body) == _depth_by_regex(body)


def test_the_generators_rows_pass_the_validator():
    from scoring.engine.synthetic import FRAUD_PATTERNS, LiveFeed, generate_history
    from scoring.management.commands.generate_transactions import frame_to_items

    frame = generate_history(n_accounts=30, days=5, end=datetime(2026, 11, 1, tzinfo=UTC))
    items = frame_to_items(frame)
    assert len(items) == len(frame) and {i["is_fraud"] for i in items} <= {True, False}
    feed = LiveFeed(n_accounts=30)
    now = datetime.now(UTC)
    records = feed.normal(now=now, count=20)
    for pattern in FRAUD_PATTERNS:
        records += feed.fraud_burst(now=now, pattern=pattern)
    assert len(validate_transactions(records)) == len(records)
