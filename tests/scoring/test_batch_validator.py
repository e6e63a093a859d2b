"""``schema.validate_items`` checks a batch field by field; it gives exactly what checking each
item on its own (``schema._validate_item``, the reference) gives: the cleaned values, the errors
and every message, and the repeated external ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import schema
from scoring.engine.fields import TRANSACTION_FIELDS
from scoring.schema import Bounds, _unless_repeated, _validate_item, validate_items

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOOD = {
    "external_id": "ext-1",
    "account_id": "acct-1",
    "amount": "125.40",
    "currency": "EUR",
    "occurred_at": "2025-11-20T10:15:00+01:00",
    "latitude": 52.52,
    "longitude": 13.4,
    "ip_address": "203.0.113.7",
    "channel": "pos",
    "metadata": {"terminal": "T-9", "risk_hint": 0.2},
}
TEXT = st.sampled_from(["a", "acct-1", " padded ", "x" * 101, "nul\x00", "\ud800", "", "42"])
NUMBER = st.sampled_from([0, 1, -1, 1.5, 2**70, float("nan"), float("inf"), True, -0.0])
VALUES = {
    "external_id": TEXT | NUMBER | st.sampled_from(["ext-1", "ext-2", "ext-3"]),
    "account_id": TEXT | NUMBER,
    "amount": st.sampled_from(["5", "0.01", "0", "-1", "1.234", "1e3", "x", "1" * 19, "NaN"])
    | NUMBER
    | st.just(Decimal("7.25")),
    "currency": st.sampled_from(["USD", "eur", "XYZ", "", " EUR "]) | NUMBER,
    "occurred_at": st.sampled_from(
        ["2025-01-01T10:00:00Z", "2025-01-01T10:00:00", "soon", "2300-01-01T00:00:00Z", ""]
    )
    | st.just(datetime(2025, 5, 5, 12, tzinfo=UTC))
    | st.just(datetime(2025, 5, 5, 12))
    | NUMBER,
    "country": st.sampled_from(["DE", "qq", "", "us"]) | NUMBER,
    "latitude": st.sampled_from(["1.5", "91", "x", "-90", 45.0, 91.0]) | NUMBER,
    "longitude": st.sampled_from(["2.5", "181", "nan", "180", 10.0, -181.0]) | NUMBER,
    "channel": TEXT | NUMBER,
    "merchant_id": TEXT | NUMBER,
    "ip_address": st.sampled_from(["10.0.0.1", "::1", "999.1.1.1", ""]) | NUMBER,
    "metadata": st.sampled_from(
        [{}, {"k": 1}, {"k": float("nan")}, {"nul\x00": 1}, {"a": {"b": {"c": {"d": 1}}}}, []]
    )
    | st.dictionaries(st.sampled_from(["k", "z", "risk"]), TEXT | NUMBER, max_size=3),
}
assert set(VALUES) <= set(TRANSACTION_FIELDS)
CHANGE = st.sampled_from(sorted(VALUES)).flatmap(
    lambda name: st.tuples(st.just(name), st.none() | VALUES[name])
)


@st.composite
def items(draw):
    item = dict(GOOD)
    for name, value in draw(st.lists(CHANGE, max_size=3)):
        item[name] = value
    for name in draw(st.sets(st.sampled_from(sorted(VALUES)), max_size=2)):
        item.pop(name, None)  # absent, not null
    if draw(st.booleans()):
        item["external_id"] = f"ext-{draw(st.integers(0, 3))}"
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, [], "text", {**item, "unknown": 1}, {1: "x"}]))
    return item


def each_item(batch: list, *, allow_repeats: bool):
    """The reference: every item checked on its own, then repeats found in batch order."""
    bounds = Bounds.current()
    results = [_validate_item(item, bounds) for item in batch]
    if not allow_repeats:
        seen: dict[str, int] = {}
        results = [
            _unless_repeated(data, problems, index=i, seen=seen)
            for i, (data, problems) in enumerate(results)
        ]
    return [data for data, _ in results], {str(i): p for i, (_, p) in enumerate(results) if p}


def same(a, b) -> bool:
    """Equal, and NaN equal to NaN, -0.0 apart from 0.0 (cleaned values, key by key)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    return type(a) is type(b) and a == b


@pytest.mark.slow  # a property test of several seconds: make test, not test-fast
@override_settings(INGEST_METADATA_MAX_KEYS=3, INGEST_METADATA_MAX_DEPTH=3)
@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(batch=st.lists(items(), min_size=1, max_size=8), allow_repeats=st.booleans())
def test_the_batch_and_each_item_agree(batch, allow_repeats):
    with mock.patch("scoring.schema.timezone.now", return_value=NOW):
        expected = each_item(batch, allow_repeats=allow_repeats)
        got = validate_items(batch, allow_repeats=allow_repeats)
    assert got[1] == expected[1]
    assert same(got[0], expected[0])


def test_a_repeated_text_is_checked_once_and_each_item_gets_its_own_metadata():
    batch = [{**GOOD, "external_id": f"e-{n}", "metadata": {"n": n}} for n in range(3)]
    batch.append({k: v for k, v in GOOD.items() if k != "metadata"} | {"external_id": "e-3"})
    batch.append({k: v for k, v in GOOD.items() if k != "metadata"} | {"external_id": "e-4"})
    currency = mock.Mock(wraps=schema._CHECKS["currency"])
    with mock.patch.dict(schema._CHECKS, {"currency": currency}):
        cleaned, errors = validate_items(batch)
    assert currency.call_count == 1  # five items, one text
    assert errors == {}
    assert [row["metadata"] for row in cleaned] == [{"n": 0}, {"n": 1}, {"n": 2}, {}, {}]
    assert cleaned[3]["metadata"] is not cleaned[4]["metadata"]
    assert cleaned[0]["amount"] == Decimal("125.40") and cleaned[0]["occurred_at"].tzinfo is UTC


def test_a_null_is_a_value_and_an_absent_field_takes_its_default():
    """``"channel": null`` is refused as the item path refuses it; no ``channel`` is ``""``."""
    absent = {k: v for k, v in GOOD.items() if k != "channel"}
    cleaned, errors = validate_items([absent, {**GOOD, "external_id": "e-2", "channel": None}])
    assert cleaned[0]["channel"] == ""
    assert cleaned[1] is None
    assert errors == {"1": {"channel": ["This field may not be null."]}}
