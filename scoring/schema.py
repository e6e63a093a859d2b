"""The one ingestion validator: every way in (API, CSV import, stream consumers, the synthetic
generator) checks transactions here, with the same rules, bounds and messages.

``validate_transactions(items)`` returns one dict of model-field values per item (money as
``Decimal``, ``occurred_at`` as an aware UTC ``datetime``, absent optional fields filled with
their defaults) or raises :class:`BatchValidationError` with errors by item index and field::

    {"errors": {"3": {"amount": ["Ensure this value is greater than or equal to 0.01."]}}}

It is a hand-written check per field (no per-item serializer): about a microsecond per field,
so validation stays a small part of an ingest request. The bounds (see ``docs/ingest.md``):

* strings capped at their column length, free of NUL characters and lone surrogates;
* ``occurred_at`` with an explicit zone, within ``INGEST_OCCURRED_AT_MIN`` ..
  now + ``INGEST_MAX_FUTURE`` (and always within what pandas and PostgreSQL can hold);
* ``metadata``: an object of at most ``INGEST_METADATA_MAX_KEYS`` keys (all levels together),
  nested at most ``INGEST_METADATA_MAX_DEPTH`` deep, at most ``INGEST_METADATA_MAX_BYTES``
  serialised, finite numbers only;
* a request body nested deeper than ``INGEST_MAX_JSON_DEPTH`` is refused before it is parsed.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import orjson
import pycountry
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import ApplicationError

from .engine.fields import REQUIRED_FIELDS, TEXT_FIELDS, TRANSACTION_FIELDS

CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)
AMOUNT_MAX_DIGITS = 18
AMOUNT_DECIMAL_PLACES = 2
AMOUNT_MIN = Decimal("0.01")
# Whatever the settings say, a stored time must fit pandas' nanosecond timestamps (1677-2262)
# and a Python datetime in UTC: these are the outer limits of the configurable window.
STORABLE_MIN = datetime(1678, 1, 1, tzinfo=UTC)
STORABLE_MAX = datetime(2262, 1, 1, tzinfo=UTC)
# Longest text accepted where no column length applies (a date-time, an amount, an address).
_SHORT_TEXT = 64
_ALLOWED = frozenset(TRANSACTION_FIELDS)
_SURROGATE = re.compile("[\ud800-\udfff]")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# validate_table: a value refused (or not checked yet).
_MISS = object()
_ABSENT = object()  # a field an item does not have (its None is a value, checked as such)
_REQUIRED = frozenset(REQUIRED_FIELDS)


class BatchValidationError(ApplicationError):
    """Some items of a batch are invalid; ``extra["errors"]`` holds messages by item index and
    field. Nothing of the batch is stored."""

    def __init__(self, message: str, errors: dict[str, dict[str, list[str]]]):
        super().__init__(message, extra={"errors": errors})
        self.errors = errors


class PayloadTooLargeError(ApplicationError):
    """The request body or the batch is larger than the configured limit (HTTP 413)."""

    status_code = 413


class _Invalid(Exception):
    """One field's problem; collected into the item's errors."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- single values -------------------------------------------------------------------------


def clean_text(value: str, *, max_length: int) -> str:
    """A stripped string of at most ``max_length`` characters, without NUL or lone surrogates."""
    value = value.strip()
    if len(value) > max_length:
        raise _Invalid(f"Ensure this field has no more than {max_length} characters.")
    if not value.isascii():
        match = _SURROGATE.search(value)
        if match:
            raise _Invalid(f"Surrogate characters are not allowed: U+{ord(match.group()):X}.")
    if "\x00" in value:
        raise _Invalid("Null characters are not allowed.")
    return value


def _amount(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and len(value) <= _SHORT_TEXT:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise _Invalid("A valid number is required.") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    else:
        raise _Invalid("A valid number is required.")
    if not amount.is_finite():
        raise _Invalid("A valid number is required.")
    _sign, digits, exponent = amount.as_tuple()
    decimals = max(0, -exponent)
    whole = max(0, len(digits) + exponent) if digits != (0,) else 0
    if decimals > AMOUNT_DECIMAL_PLACES:
        raise _Invalid(
            f"Ensure that there are no more than {AMOUNT_DECIMAL_PLACES} decimal places."
        )
    if whole + decimals > AMOUNT_MAX_DIGITS:
        raise _Invalid(f"Ensure that there are no more than {AMOUNT_MAX_DIGITS} digits in total.")
    if whole > AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES:
        raise _Invalid(
            f"Ensure that there are no more than {AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES} "
            "digits before the decimal point."
        )
    if amount < AMOUNT_MIN:
        raise _Invalid(f"Ensure this value is greater than or equal to {AMOUNT_MIN}.")
    return amount.quantize(Decimal("0.01"))


def _shown(code: str) -> str:
    """A refused code as it may be echoed back: short, printable ASCII."""
    return code[:10].encode("ascii", "replace").decode() if not code.isascii() else code[:10]


def _currency(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("Not a valid string.")
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise _Invalid(f"'{_shown(code)}' is not an ISO 4217 currency code.")
    return code


def _country(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("Not a valid string.")
    code = value.strip().upper()
    if code and code not in COUNTRIES:
        raise _Invalid(f"'{_shown(code)}' is not an ISO 3166 alpha-2 country code.")
    return code


def _coordinate(value: Any, limit: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Invalid("A valid number is required.")
    if isinstance(value, int | float | str) and not (
        isinstance(value, str) and len(value) > _SHORT_TEXT
    ):
        try:
            number = float(value)
        except (ValueError, OverflowError):  # not a number, or an int beyond any float
            raise _Invalid("A valid number is required.") from None
    else:
        raise _Invalid("A valid number is required.")
    if not math.isfinite(number):
        raise _Invalid("A valid number is required.")
    if number < -limit:
        raise _Invalid(f"Ensure this value is greater than or equal to {-limit}.")
    if number > limit:
        raise _Invalid(f"Ensure this value is less than or equal to {limit}.")
    return number


def _ip_address(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _SHORT_TEXT or "%" in value:
        raise _Invalid("Enter a valid IPv4 or IPv6 address.")
    if _IPV4.fullmatch(value):  # the common case, already in canonical form
        return value
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _Invalid("Enter a valid IPv4 or IPv6 address.") from None


def occurred_at_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The accepted ``occurred_at`` range right now (settings, clipped to what can be stored)."""
    now = now or timezone.now()
    low = settings.INGEST_OCCURRED_AT_MIN
    if isinstance(low, str):
        low = datetime.fromisoformat(low)
    return max(low, STORABLE_MIN), min(now + settings.INGEST_MAX_FUTURE, STORABLE_MAX)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The settings-driven limits, read once per batch."""

    window: tuple[datetime, datetime]
    metadata_keys: int
    metadata_depth: int
    metadata_bytes: int
    defaults: dict[str, Any]

    @classmethod
    def current(cls) -> Bounds:
        return cls(
            window=occurred_at_window(),
            metadata_keys=settings.INGEST_METADATA_MAX_KEYS,
            metadata_depth=settings.INGEST_METADATA_MAX_DEPTH,
            metadata_bytes=settings.INGEST_METADATA_MAX_BYTES,
            defaults={
                **dict.fromkeys(TEXT_FIELDS, ""),
                "currency": settings.DEFAULT_CURRENCY,
                "country": "",
                "latitude": None,
                "longitude": None,
                "ip_address": None,
            },
        )


def _occurred_at(value: Any, window: tuple[datetime, datetime]) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) <= _SHORT_TEXT:
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            moment = None
        if moment is None:
            raise _Invalid("Not an ISO 8601 date-time (e.g. 2026-11-23T14:05:00Z).")
    else:
        raise _Invalid("Not an ISO 8601 date-time (e.g. 2026-11-23T14:05:00Z).")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Invalid("Date-time has no time zone; add 'Z' or an offset such as +01:00.")
    low, high = window
    # Comparing aware date-times never overflows; converting year 1 at +14:00 to UTC would.
    if moment < low:
        raise _Invalid(f"Date-time is before {low.isoformat()}, the earliest accepted.")
    if moment > high:
        raise _Invalid(
            f"Date-time is after {high.isoformat()}; at most "
            f"{_duration(settings.INGEST_MAX_FUTURE)} in the future is accepted."
        )
    return moment.astimezone(UTC)


def _duration(delta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{seconds} seconds"


def check_metadata(value: Any, bounds: Bounds) -> dict:
    """A JSON object within the metadata bounds (keys, depth, size, finite numbers, clean text).
    Raises ``_Invalid`` with the first problem found."""
    if value is None:
        raise _Invalid("This field may not be null.")
    if not isinstance(value, dict):
        raise _Invalid(f'Expected a dictionary of items but got type "{type(value).__name__}".')
    if not value:
        return value
    max_keys = bounds.metadata_keys
    max_depth = bounds.metadata_depth
    keys = 0
    # Iterative walk: no recursion, whatever the caller built.
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, where = stack.pop()
        if depth > max_depth:
            raise _Invalid(f"Nested deeper than {max_depth} levels{where}.")
        if isinstance(node, dict):
            keys += len(node)
            if keys > max_keys:
                raise _Invalid(f"At most {max_keys} keys (all levels together).")
            for key, item in node.items():
                if not isinstance(key, str):
                    raise _Invalid("Keys must be strings.")
                _clean_metadata_text(key, f" in key {key[:40]!r}")
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1, f" (under {key[:40]!r})"))
                else:
                    _metadata_scalar(item, f" (at {key[:40]!r})")
        else:  # a list
            for item in node:
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1, where))
                else:
                    _metadata_scalar(item, where)
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:  # integers beyond 64 bits, non-JSON types from Python callers
        raise _Invalid(f"Not valid JSON: {exc}.") from None
    limit = bounds.metadata_bytes
    if size > limit:
        raise _Invalid(f"At most {limit:,} bytes of JSON; this is {size:,}.")
    return value


def _clean_metadata_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise _Invalid(f"Null characters are not allowed{where}.")
    if not text.isascii() and _SURROGATE.search(text):
        raise _Invalid(f"Surrogate characters are not allowed{where}.")


def _metadata_scalar(item: Any, where: str) -> None:
    if isinstance(item, str):
        _clean_metadata_text(item, where)
    elif isinstance(item, float):
        if not math.isfinite(item):
            raise _Invalid(f"Numbers must be finite (no NaN or Infinity){where}.")
    elif item is None or isinstance(item, bool | int):
        return
    else:
        raise _Invalid(f"Values must be JSON (text, numbers, true/false, null){where}.")


# --- one item, a batch ---------------------------------------------------------------------


def _text_check(name: str, max_length: int) -> Callable[[Any], str]:
    required = name in REQUIRED_FIELDS

    def check(value: Any) -> str:
        if type(value) is not str:
            if value is None:
                raise _Invalid("This field may not be null.")
            # Numbers are taken as their text, as the API always did (e.g. "account_id": 42).
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _Invalid("Not a valid string.")
            if isinstance(value, int) and abs(value) >= 10**max_length:
                raise _Invalid(f"Ensure this field has no more than {max_length} characters.")
            value = str(value)
        text = clean_text(value, max_length=max_length)
        if required and not text:
            raise _Invalid("This field may not be blank.")
        return text

    return check


_CHECKS: dict[str, Callable[[Any], Any]] = {
    **{name: _text_check(name, length) for name, length in TEXT_FIELDS.items()},
    "amount": _amount,
    "currency": _currency,
    "country": _country,
    "latitude": lambda v: _coordinate(v, 90),
    "longitude": lambda v: _coordinate(v, 180),
    "ip_address": _ip_address,
}
# occurred_at and metadata depend on the batch's bounds (the clock, the settings).
assert set(_CHECKS) | {"occurred_at", "metadata"} == _ALLOWED, "every field has one check"
# The fields checked column by column (metadata is checked per item: it nests).
_COLUMN_FIELDS = (*_CHECKS, "occurred_at")


def _validate_item(item: Any, bounds: Bounds) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["Each transaction must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    unknown = item.keys() - _ALLOWED
    for name in sorted(map(str, unknown)):
        errors[name[:100]] = ["Unknown field; see the API schema for allowed fields."]
    for name in REQUIRED_FIELDS:
        if name not in item:
            errors[name] = ["This field is required."]
    out = dict(bounds.defaults)
    for name, value in item.items():
        if name in unknown or name in errors:
            continue
        try:
            if name == "occurred_at":
                if value is None:
                    raise _Invalid("This field may not be null.")
                out[name] = _occurred_at(value, bounds.window)
            elif name == "metadata":
                out[name] = check_metadata(value, bounds)
            else:
                out[name] = _CHECKS[name](value)
        except _Invalid as exc:
            errors[name] = [exc.message]
    if "metadata" not in out:
        out["metadata"] = {}  # a fresh object per item, never one shared by the batch
    if (out["latitude"] is None) != (out["longitude"] is None):
        missing = "longitude" if out["longitude"] is None else "latitude"
        if "latitude" not in errors and "longitude" not in errors:
            errors[missing] = ["latitude and longitude go together."]
    return (None, errors) if errors else (out, errors)


def validate_items(
    items: list[Any], *, allow_repeats: bool = False
) -> tuple[list[dict | None], dict[str, dict[str, list[str]]]]:
    """Check every item; return (cleaned item or None per index, errors by item index).

    For callers that keep the good items (the CSV importer reports and skips bad lines, and
    counts a repeated external id as a duplicate: ``allow_repeats``); the API uses
    :func:`validate_transactions`, which refuses the whole batch.

    The checks run field by field over the batch, each distinct text of a field once (a batch
    repeats its accounts, currencies, merchants and channels); an item with any problem is
    checked again on its own by ``_validate_item``, so the results and messages are exactly
    those of checking each item (``tests/scoring/test_batch_validator.py`` asserts it).
    """
    bounds = Bounds.current()
    bad: set[int] = set()
    shaped: list[dict] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.keys() <= _ALLOWED and item.keys() >= _REQUIRED:
            shaped.append(item)
        else:  # not an object, unknown or missing fields: the item path names them
            bad.add(index)
            shaped.append({})
    cleaned = {
        name: _checked_column(
            name, [item.get(name, _ABSENT) for item in shaped], bounds, bad, blank=_ABSENT
        )
        for name in _COLUMN_FIELDS
    }
    metadata: list[dict | None] = []
    for index, item in enumerate(shaped):
        value = item.get("metadata", _ABSENT)
        if value is _ABSENT:
            metadata.append({})  # a fresh object per item, never one shared by the batch
            continue
        try:
            metadata.append(check_metadata(value, bounds))
        except _Invalid:
            bad.add(index)
            metadata.append(None)
    pairs = enumerate(zip(cleaned["latitude"], cleaned["longitude"], strict=True))
    bad.update(i for i, (lat, lon) in pairs if (lat is None) != (lon is None))
    names = list(cleaned)
    rows: list[dict | None] = []
    errors: dict[str, dict[str, list[str]]] = {}
    seen: dict[str, int] = {}
    for index, values in enumerate(zip(*cleaned.values(), strict=True)):
        if index in bad:
            data, problems = _validate_item(items[index], bounds)
        else:
            data, problems = dict(zip(names, values, strict=True)), {}
            data["metadata"] = metadata[index]
        if not allow_repeats:
            data, problems = _unless_repeated(data, problems, index=index, seen=seen)
        if problems:
            errors[str(index)] = problems
        rows.append(data)
    return rows, errors


def _unless_repeated(
    data: dict | None, problems: dict[str, list[str]], *, index: int, seen: dict[str, int]
) -> tuple[dict | None, dict[str, list[str]]]:
    """A good item refused when its external id is an earlier good item's (``seen``: external id
    → index of its first item, filled in batch order)."""
    if data is None:
        return data, problems
    first = seen.setdefault(data["external_id"], index)
    if first == index:
        return data, problems
    return None, {"external_id": [f"Repeats the external_id of item {first} in this batch."]}


def validate_table(
    columns: dict[str, list[Any]], metadata: dict[str, list[Any]], size: int
) -> tuple[list[dict | None], dict[str, dict[str, list[str]]]]:
    """:func:`validate_items` (``allow_repeats=True``) for a table, as the CSV importer has it:
    one list per field in ``columns`` and one per flat metadata key in ``metadata``, ``None``
    where a row has no value (a blank cell). The same checks run column by column, each distinct
    text of a column once; a row with any problem is checked again as an item by
    ``_validate_item``, so the results and messages are exactly those of :func:`validate_items`
    (``tests/scoring/test_import_validator.py`` asserts it)."""
    bounds = Bounds.current()
    bad: set[int] = set()
    if any(name not in columns for name in REQUIRED_FIELDS) or any(
        name not in _CHECKS and name != "occurred_at" for name in columns
    ):
        bad.update(range(size))  # missing or unknown fields: the item path names them
    cleaned: dict[str, list[Any]] = {}
    for name, values in columns.items():
        if name in _CHECKS or name == "occurred_at":
            cleaned[name] = _checked_column(name, values, bounds, bad)
    if "latitude" in cleaned or "longitude" in cleaned:
        lat = cleaned.get("latitude", [None] * size)
        lon = cleaned.get("longitude", [None] * size)
        pairs = enumerate(zip(lat, lon, strict=True))
        bad.update(i for i, (a, b) in pairs if (a is None) != (b is None))
    _check_flat_metadata(metadata, size, bounds, bad)
    names = list(cleaned)
    keys = list(metadata)
    complete = all(None not in values for values in metadata.values())
    rows: list[dict | None] = []
    errors: dict[str, dict[str, list[str]]] = {}
    value_rows = zip(*cleaned.values(), strict=True) if names else itertools.repeat(())
    extra_rows = zip(*metadata.values(), strict=True) if keys else itertools.repeat(())
    # strict=False: an empty side is repeat(()).
    for i, values, extra in zip(range(size), value_rows, extra_rows, strict=False):
        if complete:
            meta = dict(zip(keys, extra, strict=True))
        else:
            meta = {k: v for k, v in zip(keys, extra, strict=True) if v is not None}
        if i not in bad:
            row = dict(zip(names, values, strict=True))
            rows.append({**bounds.defaults, **row, "metadata": meta})
            continue
        item = {n: columns[n][i] for n in columns if columns[n][i] is not None}
        if meta:
            item["metadata"] = meta
        data, problems = _validate_item(item, bounds)
        if problems:
            errors[str(i)] = problems
        rows.append(data)
    return rows, errors


def _checked_column(
    name: str, values: list[Any], bounds: Bounds, bad: set[int], *, blank: Any = None
) -> list[Any]:
    """One field's cleaned values (its default where the value is ``blank``: ``None`` for a
    table's empty cell, ``_ABSENT`` for an item without the field, whose ``None`` is a value to
    check); adds refused rows to ``bad``. Each distinct text is checked once."""
    check = _CHECKS.get(name) or (lambda v: _occurred_at(v, bounds.window))
    kinds = set(map(type, values))
    if kinds <= {str, type(blank)}:  # texts and blanks only (the usual case): no other values
        results: dict[Any, Any] = dict.fromkeys(values, _MISS)
        others: dict[int, Any] = {}
    else:
        results = {}
        others = {}
        for i, value in enumerate(values):
            if type(value) is str:
                results[value] = _MISS
            elif value is not blank:
                others[i] = value
    refused = False
    for value in results:
        if value is blank:
            continue
        try:
            results[value] = check(value)
        except _Invalid:
            refused = True
    default = _MISS if name in REQUIRED_FIELDS else bounds.defaults.get(name)
    results[blank] = default
    refused = refused or (default is _MISS and type(blank) in kinds)
    if others:
        out = [_MISS if i in others else results[v] for i, v in enumerate(values)]
        for i, value in others.items():
            try:
                out[i] = check(value)
            except _Invalid:
                refused = True
    else:
        out = list(map(results.__getitem__, values))
    if refused:
        bad.update(i for i, v in enumerate(out) if v is _MISS)
    return out


def _check_flat_metadata(
    metadata: dict[str, list[Any]], size: int, bounds: Bounds, bad: set[int]
) -> None:
    """The metadata bounds for flat objects given as columns (key → value or ``None`` per row):
    keys, values and the JSON size of each row's object (exactly as ``orjson`` writes it)."""
    if not metadata:
        return
    sizes = np.full(size, 1)  # "{" and "}" less the last comma
    present = np.zeros(size, dtype=np.int64)
    for key, values in metadata.items():
        rows = np.fromiter((v is not None for v in values), bool, size)
        present += rows
        try:
            _clean_metadata_text(key, "")
        except _Invalid:
            bad.update(np.flatnonzero(rows).tolist())
            continue
        lengths = np.zeros(size, dtype=np.int64)
        texts = set()
        for i, value in enumerate(values):
            if value is None:
                continue
            kind = type(value)
            if kind is str:
                texts.add(value)
            elif kind not in (int, float, bool) or (kind is float and not math.isfinite(value)):
                bad.add(i)
                continue
            try:
                lengths[i] = len(orjson.dumps(value))
            except TypeError:  # integers beyond 64 bits
                bad.add(i)
        for text in texts:
            try:
                _clean_metadata_text(text, "")
            except _Invalid:
                bad.update(i for i, v in enumerate(values) if v == text)
        sizes += np.where(rows, lengths + len(orjson.dumps(key)) + 2, 0)
    too_many = len(metadata) > bounds.metadata_keys or bounds.metadata_depth < 1
    refused = ((present > 0) & (sizes > bounds.metadata_bytes)) | ((present > 0) & too_many)
    bad.update(np.flatnonzero(refused).tolist())


def validate_transactions(items: list[Any]) -> list[dict]:
    """Validate a whole batch; raise :class:`BatchValidationError` if any item is invalid."""
    cleaned, errors = validate_items(items)
    if errors:
        raise BatchValidationError(
            f"{len(errors)} of {len(items)} transactions are invalid; nothing was stored.",
            errors,
        )
    return cleaned  # type: ignore[return-value]  # no None left when there are no errors


# --- request bodies ------------------------------------------------------------------------

ENVELOPE_HELP = 'Send one transaction object or {"transactions": [...]}'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_QUOTE = ord('"')
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)


def json_depth(body: bytes) -> int:
    """How deeply a JSON text nests arrays and objects, found without parsing it.

    Escaped backslashes and quotes are removed first, then everything but quotes and brackets;
    a bracket after an odd number of quotes is inside a string (an unclosed last string
    counts as text outside one, as a body that never closes it is not JSON anyway). The
    running balance of the other brackets is the depth. Each step runs in C or numpy over the
    whole body: about half a millisecond for a batch of 1,000.
    """
    if b"[" not in body and b"{" not in body:
        return 0
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = body.translate(None, _NOT_STRUCTURE)
    codes = np.frombuffer(structure, dtype=np.uint8)
    quotes = codes == _QUOTE
    inside = (np.cumsum(quotes) & 1).astype(bool)
    if inside.size and inside[-1]:  # an unclosed string: what follows its quote is outside
        inside[np.flatnonzero(quotes)[-1] :] = False
    brackets = codes[~inside & ~quotes]
    if not brackets.size:
        return 0
    steps = np.where(np.isin(brackets, _OPENERS), 1, -1)
    return int(np.cumsum(steps).max())


def loads_bounded(body: bytes) -> Any:
    """Parse a JSON request body after checking its size and nesting (never a RecursionError)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(body) > limit:
        raise PayloadTooLargeError(f"Request body exceeds {limit} bytes.")
    max_depth = settings.INGEST_MAX_JSON_DEPTH
    if json_depth(body) > max_depth:
        raise ApplicationError(
            f"JSON parse error - nested deeper than {max_depth} levels. {ENVELOPE_HELP}."
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApplicationError(f"JSON parse error - {exc}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def batch_items(payload: Any) -> list[Any]:
    """The items of a request body: one object, or ``{"transactions": [...]}`` (at most
    ``INGEST_MAX_BATCH``). Raises the application error that names what was expected."""
    if not isinstance(payload, dict):
        raise ApplicationError(f"{ENVELOPE_HELP}; got {_kind(payload)}.")
    if "transactions" not in payload:
        return [payload]
    extra = sorted(set(payload) - {"transactions"})
    if extra:
        raise ApplicationError(
            "Invalid input.", extra={name[:100]: ["Unknown field."] for name in extra}
        )
    items = payload["transactions"]
    if not isinstance(items, list):
        raise ApplicationError(
            "Invalid input.", extra={"transactions": [f"Must be a list, got {_kind(items)}."]}
        )
    if not items:
        raise ApplicationError("Invalid input.", extra={"transactions": ["The batch is empty."]})
    if len(items) > settings.INGEST_MAX_BATCH:
        raise PayloadTooLargeError(
            f"Batch of {len(items)} transactions exceeds the limit of "
            f"{settings.INGEST_MAX_BATCH}; split it into smaller batches."
        )
    return items


def single_item(payload: Any) -> Any:
    """The one transaction of ``POST /transactions/score`` (an object, not a batch)."""
    if not isinstance(payload, dict):
        raise ApplicationError(f"Send one transaction object; got {_kind(payload)}.")
    return payload


# --- the same rules as JSON Schema (the OpenAPI description) -------------------------------


def transaction_json_schema() -> dict[str, Any]:
    """One transaction as sent, as a JSON Schema (OpenAPI 3.0 dialect), built from the same
    constants the validator checks."""
    text = {name: {"type": "string", "maxLength": n} for name, n in TEXT_FIELDS.items()}
    for name in REQUIRED_FIELDS:
        if name in text:
            text[name] = {**text[name], "minLength": 1, "pattern": r"\S"}
    coordinate = {"type": "number", "nullable": True}
    properties = {
        **text,
        "amount": {
            "type": "string",
            "format": "decimal",
            "pattern": r"^\s*[0-9]{1,16}(\.[0-9]{1,2})?\s*$",
            "description": f"At least {AMOUNT_MIN}, at most {AMOUNT_DECIMAL_PLACES} decimal "
            f"places and {AMOUNT_MAX_DIGITS} digits; a JSON number is accepted too.",
            "example": "125.40",
        },
        "currency": {
            "type": "string",
            "pattern": "^[A-Za-z]{3}$",
            "description": "ISO 4217 code; default DEFAULT_CURRENCY.",
            "example": "EUR",
        },
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with a zone, from INGEST_OCCURRED_AT_MIN (default "
            "1970-01-01) to now + INGEST_MAX_FUTURE (default 1 day).",
            "example": "2026-11-23T14:05:00Z",
        },
        "country": {
            "type": "string",
            "maxLength": 2,
            "description": "ISO 3166 alpha-2 code, or empty.",
            "example": "DE",
        },
        "latitude": {**coordinate, "minimum": -90, "maximum": 90},
        "longitude": {**coordinate, "minimum": -180, "maximum": 180},
        "ip_address": {
            "type": "string",
            "nullable": True,
            "maxLength": 45,
            "description": "IPv4 or IPv6 address (no zone index), empty or null.",
            "example": "203.0.113.7",
        },
        "metadata": {
            "type": "object",
            "additionalProperties": True,
            "maxProperties": settings.INGEST_METADATA_MAX_KEYS,
            "description": "Free-form partner attributes: at most INGEST_METADATA_MAX_KEYS (50) "
            "keys at all levels together, INGEST_METADATA_MAX_DEPTH (3) levels, "
            "INGEST_METADATA_MAX_BYTES (8 KB) of JSON, finite numbers, no NUL characters.",
        },
    }
    assert set(properties) == _ALLOWED, "every field is described"
    return {
        "type": "object",
        "properties": {name: properties[name] for name in TRANSACTION_FIELDS},
        "required": list(REQUIRED_FIELDS),
        "additionalProperties": False,
    }
