"""``schema.validate_table`` (the importer's column-wise entry to the one validator) gives exactly
what ``schema.validate_items`` gives for the same rows: cleaned values and every message."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.schema import validate_items, validate_table

TEXT = st.one_of(
    st.sampled_from(["a", "acct-1", " padded ", "x" * 101, "nul\x00", "\ud800", "42"]),
    st.text(max_size=5),
)
VALUES = {
    "external_id": TEXT,
    "account_id": TEXT,
    "amount": st.one_of(
        st.sampled_from(["5", "0.01", "0", "-1", "1.234", "1e3", "x", "1" * 19, "NaN"]),
        st.decimals(allow_nan=True, places=3, min_value=-1, max_value=1000),
    ),
    "currency": st.sampled_from(["USD", "eur", "XYZ", ""]),
    "occurred_at": st.one_of(
        st.datetimes(
            min_value=datetime(1600, 1, 1), max_value=datetime(2400, 1, 1), timezones=st.just(UTC)
        ),
        st.datetimes(max_value=datetime(2030, 1, 1)),  # no zone
        st.sampled_from(["2025-01-01T10:00:00Z", "soon"]),
    ),
    "country": st.sampled_from(["DE", "qq", "", "us"]),
    "latitude": st.sampled_from(["1.5", "91", "x", "-90"]),
    "longitude": st.sampled_from(["2.5", "181", "nan", "180"]),
    "channel": TEXT,
    "ip_address": st.sampled_from(["10.0.0.1", "::1", "fe80::1%eth0", "999.1.1.1", ""]),
}
META = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.just("y" * 3000),
)


@st.composite
def tables(draw):
    size = draw(st.integers(min_value=1, max_value=6))
    names = draw(st.sets(st.sampled_from(sorted(VALUES)), min_size=1))
    columns = {
        name: draw(st.lists(st.none() | VALUES[name], min_size=size, max_size=size))
        for name in names
    }
    keys = draw(st.lists(st.sampled_from(["k", "risk", "nul\x00key", "z"]), unique=True))
    metadata = {key: draw(st.lists(st.none() | META, min_size=size, max_size=size)) for key in keys}
    return columns, metadata, size


def as_items(columns, metadata, size):
    items = []
    for i in range(size):
        item = {name: values[i] for name, values in columns.items() if values[i] is not None}
        meta = {key: values[i] for key, values in metadata.items() if values[i] is not None}
        if meta:
            item["metadata"] = meta
        items.append(item)
    return items


@pytest.mark.slow  # a property test of several seconds: make test, not test-fast
@override_settings(INGEST_METADATA_MAX_KEYS=3, INGEST_METADATA_MAX_BYTES=4000)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_the_table_and_the_items_agree(table):
    columns, metadata, size = table
    with mock.patch("scoring.schema.timezone.now", return_value=datetime(2026, 1, 1, tzinfo=UTC)):
        expected = validate_items(as_items(columns, metadata, size), allow_repeats=True)
        assert validate_table(columns, metadata, size) == expected


def test_repeated_texts_are_checked_once_and_agree():
    columns = {
        "external_id": ["t1", "t2", "t3"],
        "account_id": ["a", "a", "a"],
        "amount": ["5", Decimal("1.239"), "5"],
        "occurred_at": [datetime(2025, 1, 1, tzinfo=UTC)] * 3,
        "currency": ["usd", "usd", "usd"],
    }
    rows, errors = validate_table(columns, {"n": [1, None, 2.5]}, 3)
    assert errors == {"1": {"amount": ["Ensure that there are no more than 2 decimal places."]}}
    assert rows[0]["currency"] == "USD" and rows[0]["metadata"] == {"n": 1}
    assert rows[2]["amount"] == Decimal("5.00") and rows[1] is None
