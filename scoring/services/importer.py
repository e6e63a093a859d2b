"""CSV import of transactions with any column layout (``manage.py import_transactions``).

The file is read twice with constant memory: once to hash it (ids of rows without a mapped
``external_id`` are ``<first 16 hex of the SHA-256>-<line number>``, so re-importing the same file
adds nothing), once in chunks. A reader thread parses each chunk column by column (times, amounts,
labels and metadata vectorised) and checks it with the one ingestion validator
(:func:`scoring.schema.validate_items`), so an import accepts exactly what ``POST
/api/v1/transactions`` accepts; the calling thread stores the chunks through
:func:`~scoring.services.ingest.transactions_store` (``COPY`` + one ``INSERT … ON CONFLICT``).

**All or nothing.** The whole file is stored in one database transaction. A refused import (see
``bad_line_policy``), an early stop or any failure leaves nothing behind, and since ids are
stable, running it again after a fix or an interruption is safe. Chunks committed one by one
would leave the first part of a file in when a refusal is found at its end.

**Bad lines** (named by line, field and column) are skipped and reported. ``bad_line_policy``:
``refuse-fraud`` (default) refuses the import when a bad line is labelled fraud, so labelled
frauds are never lost without a decision; ``skip`` imports the rest anyway; ``refuse`` refuses on
any bad line. Options that do not fit the file stop the import at once with one message: a time
without a zone and no ``timezone``, or the first ``EARLY_STOP_ROWS`` lines all invalid.

Columns that are not mapped go into ``metadata`` (numbers as numbers, so numeric ones can become
model features); ``drop`` keeps columns out altogether. A column is named by its header or by its
1-based position (``#3``), which also reaches blank-named and repeated headers. ``join`` adds the
columns of a second CSV (an identity or device table) by a key: a left join, the other table held
in memory once, the transactions streamed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from django.db import transaction

from core.audit import audit_record
from core.errors import ApplicationError

from ..engine.fields import FRAUD_PATTERN_MAX_LENGTH, TRANSACTION_FIELDS
from ..engine.ml import file_sha256
from ..models import Transaction
from ..schema import AMOUNT_MIN, BatchValidationError, validate_table
from .ingest import transactions_store

CHUNK_SIZE = 10_000
# Fields a column (or a constant) can be mapped to: the API's fields plus the fraud pattern name.
MAPPABLE_FIELDS = (*(f for f in TRANSACTION_FIELDS if f != "metadata"), "fraud_pattern")
# What a file must give (external ids are made up from the file's hash and line when absent).
REQUIRED_FIELDS = ("account_id", "amount", "occurred_at")
# Label texts (case-insensitive, trimmed); any number equal to 1 or 0 ("1.0", "0.00", "1e0")
# counts too, and a blank label is unknown.
TRUE_LABELS = frozenset({"1", "true", "t", "yes", "y", "fraud", "fraudulent"})
FALSE_LABELS = frozenset({"0", "false", "f", "no", "n", "legit", "legitimate", "genuine"})
AMOUNT_ROUNDING = {"none": None, "half-even": ROUND_HALF_EVEN, "half-up": ROUND_HALF_UP}
AMOUNT_MINIMUM_POLICIES = ("raise", "clamp", "drop")
BAD_LINE_POLICIES = ("refuse-fraud", "skip", "refuse")
# offset:<unit>[*<factor>]:<ISO start>; "m" is refused (minutes or months?).
TIME_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
OFFSET_HELP = "offset:<ms|s|min|h|d>[*<factor>]:<ISO start>, e.g. offset:h:2024-01-01T00:00:00Z"
# Stop when this many lines were read and none of them was valid: the options do not fit.
EARLY_STOP_ROWS = 100
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGERS = re.compile(r"(?:[+-]?\d+)?(?:\n(?:[+-]?\d+)?)*")
_CENT = Decimal("0.01")
# Beyond this many microseconds from the epoch pandas cannot hold a time (years 1677..2262).
_MAX_US = 9.2e15
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ImportResult:
    """What one import did. ``bad_lines`` keeps the first ``MAX_REPORTED`` problems (line,
    message); ``fraud_lines`` the first lines labelled fraud that were not imported."""

    MAX_REPORTED = 1000

    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    bad: int = 0
    labelled: int = 0
    valid: int = 0
    skipped: int = 0
    lost_frauds: int = 0
    rounded: int = 0
    clamped: int = 0
    joined: int = 0
    unmatched: int = 0
    file_sha256: str = ""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    fraud_lines: list[int] = field(default_factory=list)
    refused: str = ""


class ImportRefusedError(ApplicationError):
    """The import was refused or stopped; nothing was stored. ``result`` says what was read."""

    def __init__(self, message: str, result: ImportResult):
        super().__init__(message)
        self.result = result


# --- options -------------------------------------------------------------------------------


def parse_mapping(pairs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``field=column`` and ``field=:constant`` pairs → (columns by field, constants by field)."""
    columns: dict[str, str] = {}
    constants: dict[str, str] = {}
    for pair in pairs:
        name, sep, source = pair.partition("=")
        name = name.strip()
        if not sep or not name or not source:
            raise ApplicationError(f"--map {pair!r}: expected field=column or field=:constant.")
        if name not in MAPPABLE_FIELDS:
            raise ApplicationError(
                f"--map {pair!r}: unknown field {name!r}; fields are {', '.join(MAPPABLE_FIELDS)}."
            )
        if name in columns or name in constants:
            raise ApplicationError(f"--map: field {name!r} is mapped twice.")
        if source.startswith(":"):
            constants[name] = source[1:]
        else:
            columns[name] = source
    missing = [f for f in REQUIRED_FIELDS if f not in columns and f not in constants]
    if missing:
        raise ApplicationError(f"--map must give {', '.join(missing)} (e.g. amount=amt).")
    return columns, constants


def _choice(value: str, choices, option: str) -> str:
    if value not in choices:
        raise ApplicationError(f"{option} {value!r}: expected one of {', '.join(choices)}.")
    return value


class Layout:
    """The columns of a file: a column is named by its header text or by ``#<n>`` (1-based)."""

    def __init__(self, header: list[str], source: str):
        self.header = header
        self.source = source

    def index(self, ref: str, option: str) -> int:
        """The position of the column ``ref``; refuses unknown, ambiguous or out-of-range ones."""
        if ref.startswith("#") and ref[1:].isdigit():
            n = int(ref[1:])
            if not 1 <= n <= len(self.header):
                raise ApplicationError(
                    f"{option} {ref!r}: {self.source} has {len(self.header)} columns (#1.."
                    f"#{len(self.header)})."
                )
            return n - 1
        found = [i for i, name in enumerate(self.header) if name == ref.strip()]
        if len(found) > 1:
            where = ", ".join(f"#{i + 1}" for i in found)
            raise ApplicationError(
                f"{option} {ref!r}: {len(found)} columns of {self.source} have that name "
                f"({where}); name one by position, e.g. {option} '#{found[0] + 1}'."
            )
        if not found:
            shown = ", ".join(repr(h) if h else f"''(#{i + 1})" for i, h in enumerate(self.header))
            raise ApplicationError(
                f"{option}: column {ref!r} not in the header of {self.source}; it has {shown}."
            )
        return found[0]

    def label(self, i: int) -> str:
        """How a column is shown in messages."""
        return repr(self.header[i]) if self.header[i] else f"#{i + 1} (blank name)"

    def metadata_keys(self, positions: list[int]) -> list[str]:
        """Metadata keys of unmapped columns: the header; ``column_<n>`` when blank, ``<name>_<n>``
        for a repeated name after its first column."""
        keys, seen = [], set()
        for i in positions:
            name = self.header[i]
            key = name if name and name not in seen else f"{name or 'column'}_{i + 1}"
            seen.add(name)
            keys.append(key)
        return keys


def _read_header(reader, path: Path) -> list[str]:
    try:
        return [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise ApplicationError(f"{path}: the file is empty.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ApplicationError(f"{path}: cannot read the header line: {exc}") from exc


def _open_csv(raw) -> Any:
    return csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))


class JoinTable:
    """A second CSV keyed by one column, held in memory: its other columns, by key."""

    def __init__(self, path: Path, key: str):
        path = Path(path)
        if not path.is_file():
            raise ApplicationError(f"--join {path}: no such file.")
        self.rows: dict[str, tuple[str, ...]] = {}
        with open(path, "rb") as raw:
            reader = _open_csv(raw)
            header = _read_header(reader, path)
            self.key_index = Layout(header, path.name).index(key, "--join-on")
            self.header = [h for i, h in enumerate(header) if i != self.key_index]
            first_line: dict[str, int] = {}
            line = reader.line_num
            for values in reader:
                start, line = line + 1, reader.line_num
                if not values:
                    continue
                if len(values) != len(header):
                    raise ApplicationError(
                        f"{path.name} line {start}: {len(values)} fields, the header has "
                        f"{len(header)}; nothing was imported."
                    )
                value = values.pop(self.key_index).strip()
                if value in self.rows:
                    raise ApplicationError(
                        f"{path.name} line {start}: key {value[:40]!r} repeats line "
                        f"{first_line[value]}; a joined table needs one row per key."
                    )
                first_line[value] = start
                self.rows[value] = tuple(values)
        self.blank = ("",) * len(self.header)


class TimeParser:
    """Turns the time column into aware datetimes, a whole column at a time.

    ``time_format``: ``None`` / ``iso`` (ISO 8601), a ``strptime`` pattern (parsed by pandas,
    values it cannot read by Python's ``strptime``), ``unix`` (seconds since the epoch) or
    ``offset:<ms|s|min|h|d>[*<factor>]:<ISO start>`` (elapsed time since a start, e.g.
    ``offset:s*0.5:…`` for half-seconds). Times without a zone are read in ``timezone``.
    """

    def __init__(self, time_format: str | None, timezone: str | None):
        try:
            self.zone = ZoneInfo(timezone) if timezone else None
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ApplicationError(f"--timezone {timezone!r} is not a known time zone.") from exc
        self.kind = "iso"
        self.pattern = ""
        self.start_us = 0
        self.scale = 1.0
        if time_format is None or time_format.lower() == "iso":
            return
        if time_format.lower() == "unix":
            self.kind = "offset"
        elif time_format.startswith("offset:"):
            self.kind = "offset"
            self._offset(time_format)
        elif "%" in time_format:
            self.kind = "strptime"
            self.pattern = time_format
        else:
            raise ApplicationError(
                f"--time-format {time_format!r}: expected a strftime pattern such as "
                f"'%Y-%m-%d %H:%M:%S', 'unix' or '{OFFSET_HELP}'."
            )

    def _offset(self, time_format: str) -> None:
        parts = time_format.split(":", 2)
        unit, _, factor = parts[1].partition("*") if len(parts) == 3 else ("", "", "")
        if unit not in TIME_UNITS:
            hint = " ('m' is ambiguous: write min)" if unit == "m" else ""
            raise ApplicationError(f"--time-format {time_format!r}: expected {OFFSET_HELP}{hint}.")
        try:
            scale = float(factor) if factor else 1.0
        except ValueError:
            scale = math.nan
        if not math.isfinite(scale) or scale <= 0:
            raise ApplicationError(
                f"--time-format {time_format!r}: the factor after '*' must be a positive number "
                "(e.g. offset:s*0.001:2024-01-01T00:00:00Z)."
            )
        self.scale = TIME_UNITS[unit] * scale
        try:
            start = datetime.fromisoformat(parts[2].strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ApplicationError(
                f"--time-format: bad start {parts[2]!r} ({exc}); e.g. 2024-01-01T00:00:00Z."
            ) from exc
        if start.tzinfo is None or start.utcoffset() is None:
            if self.zone is None:
                raise ApplicationError(
                    f"--time-format: the start {parts[2]!r} has no time zone; add one "
                    "(2024-01-01T00:00:00Z, …+01:00) or give --timezone."
                )
            start = start.replace(tzinfo=self.zone)
        self.start_us = round(
            (start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)
        )

    def parse(self, values: list[str]) -> tuple[list[Any], dict[int, str]]:
        """Aware datetimes (``None`` for blank values) and problems by position. Raises
        :class:`NaiveTime` at the first time without a zone when no ``timezone`` was given."""
        if self.kind == "offset":
            return self._parse_offsets(values)
        if self.kind == "strptime":
            return self._parse_pattern(values)
        times: list[Any] = []
        problems: dict[int, str] = {}
        for i, text in enumerate(values):
            if not text:
                times.append(None)
                continue
            try:
                times.append(self._aware(datetime.fromisoformat(text.replace("Z", "+00:00")), i))
            except ValueError as exc:
                problems[i] = f"cannot read {text!r} ({exc})"
                times.append(None)
        return times, problems

    def _aware(self, value: datetime, position: int) -> datetime:
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value
        if self.zone is None:
            raise NaiveTime(position)
        return value.replace(tzinfo=self.zone)

    def _parse_pattern(self, values: list[str]) -> tuple[list[Any], dict[int, str]]:
        aware = "%z" in self.pattern
        try:
            parsed = pd.to_datetime(values, format=self.pattern, errors="coerce", utc=aware)
        except ValueError:  # a pattern pandas cannot use: every value by strptime
            parsed = pd.DatetimeIndex([pd.NaT] * len(values))
        if not aware and self.zone is not None and self.zone.key in ("UTC", "Etc/UTC"):
            parsed, aware = parsed.tz_localize("UTC"), True
        times = (
            list(parsed.to_pydatetime())
            if aware
            else list(parsed.values.astype("datetime64[us]").astype(object))
        )
        problems: dict[int, str] = {}
        for i, moment in enumerate(times):
            if moment is not None and moment is not pd.NaT:
                if not aware:
                    times[i] = self._aware(moment, i)
                continue
            times[i] = None
            text = values[i]
            if not text:
                continue
            try:  # what pandas could not read (or hold): Python's own strptime decides
                times[i] = self._aware(datetime.strptime(text, self.pattern), i)
            except (ValueError, OverflowError) as exc:
                problems[i] = f"cannot read {text!r} ({exc})"
        return times, problems

    def _parse_offsets(self, values: list[str]) -> tuple[list[Any], dict[int, str]]:
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
        micros = self.start_us + numbers * (self.scale * 1e6)
        fits = np.isfinite(micros) & (np.abs(micros) < _MAX_US)
        times: list[Any] = [None] * len(values)
        if fits.any():
            moments = pd.to_datetime(np.round(micros[fits]).astype(np.int64), unit="us", utc=True)
            for i, moment in zip(np.flatnonzero(fits), moments.to_pydatetime(), strict=True):
                times[i] = moment
        problems: dict[int, str] = {}
        for i in np.flatnonzero(~fits):
            text = values[i]
            if not text:
                continue
            try:
                number = float(text)
                if not math.isfinite(number):
                    raise ValueError("not a finite number")
                times[i] = _EPOCH + timedelta(
                    microseconds=self.start_us + round(number * self.scale * 1e6)
                )
            except (ValueError, OverflowError) as exc:
                problems[i] = f"cannot read {text!r} ({exc})"
        return times, problems


class NaiveTime(Exception):
    """A time without a zone and no ``--timezone``: the options do not fit the file."""

    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


# --- columns -------------------------------------------------------------------------------


def _metadata_value(text: str) -> Any:
    if _NUMBER.match(text):
        if text.lstrip("+-").isdigit():
            return int(text)
        return float(text)
    return text


def _metadata_column(values: list[str]) -> list[Any]:
    """One unmapped column as metadata values: numbers as numbers, blanks ``None`` (absent).
    A whole column of integers is recognised by one regular expression over the column."""
    if _INTEGERS.fullmatch("\n".join(values)):
        return [int(v) if v else None for v in values]
    return [_metadata_value(v) if v else None for v in values]


def _label(text: str) -> bool | None:
    """``True``/``False``/``None`` (blank); raises ``ValueError`` for anything else."""
    lowered = text.lower()
    if lowered in TRUE_LABELS:
        return True
    if lowered in FALSE_LABELS:
        return False
    if not lowered:
        return None
    try:
        number = float(lowered)
    except ValueError:
        number = math.nan
    if number == 1:
        return True
    if number == 0:
        return False
    raise ValueError(f"label {text!r} is not 1/0, true/false, yes/no or fraud/legit")


@dataclass
class AmountPolicy:
    """How amounts the validator would refuse are handled before it sees them: rounding to
    cents (``none``: refused), and amounts from 0 to under 0.01 (``raise``: refused; ``clamp``:
    0.01; ``drop``: the row is skipped, counted and listed). Negative amounts are always refused."""

    rounding: str = "none"
    minimum: str = "raise"

    @property
    def active(self) -> bool:
        return self.rounding != "none" or self.minimum != "raise"

    def apply(self, text: str) -> tuple[Any, str]:
        """(the amount to validate, what was done: '', 'rounded', 'clamped' or 'drop')."""
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return text, ""
        if not amount.is_finite():
            return text, ""
        done = ""
        mode = AMOUNT_ROUNDING[self.rounding]
        if mode is not None and amount.as_tuple().exponent < -2:
            amount, done = amount.quantize(_CENT, rounding=mode), "rounded"
        if not amount.is_signed() and amount < AMOUNT_MIN:
            if self.minimum == "clamp":
                return AMOUNT_MIN, "clamped"
            if self.minimum == "drop":
                return amount, "drop"
        return (amount if done else text), done


# --- one chunk -----------------------------------------------------------------------------


@dataclass
class Problem:
    """A line that is not imported: ``kind`` ``bad`` (an error) or ``skipped`` (by policy)."""

    line: int
    message: str
    fraud: bool = False
    kind: str = "bad"


@dataclass
class Chunk:
    """A parsed and validated chunk: items with their lines, the lines left out, counters."""

    rows: int
    items: list[dict]
    lines: list[int]
    problems: list[Problem]
    rounded: int = 0
    clamped: int = 0
    joined: int = 0
    unmatched: int = 0
    position: int = 0


@dataclass
class _Plan:
    """Which column becomes what (positions in the row, after the join's columns)."""

    width: int
    fields: dict[str, int]
    constants: dict[str, str]
    label: int | None
    extra: list[int]
    extra_keys: list[str]
    layout: Layout
    time: TimeParser
    amounts: AmountPolicy
    id_prefix: str
    join: JoinTable | None = None
    join_key: int | None = None

    def where(self, name: str, row: list[str]) -> str:
        """The column (and value) an error of field ``name`` comes from."""
        if name in self.fields:
            i = self.fields[name]
            return f" (column {self.layout.label(i)}: {row[i].strip()[:40]!r})"
        if name in self.constants:
            return f" (constant {':' + self.constants[name]!r})"
        if name == "metadata":
            return " (the unmapped columns)"
        return ""


def _prepare(plan: _Plan, rows: list[list[str]], lines: list[int], position: int) -> Chunk:
    """Parse and validate one chunk of raw rows (no database)."""
    chunk = Chunk(rows=len(rows), items=[], lines=[], problems=[], position=position)
    if plan.join is not None:
        lookup, key, blank = plan.join.rows, plan.join_key, plan.join.blank
        for row in rows:
            if len(row) == plan.width - len(blank):
                extra = lookup.get(row[key].strip())
                if extra is None:
                    chunk.unmatched += 1
                    row.extend(blank)
                else:
                    chunk.joined += 1
                    row.extend(extra)
    good = [i for i, row in enumerate(rows) if len(row) == plan.width]
    if len(good) < len(rows):
        width = plan.width - (len(plan.join.blank) if plan.join else 0)
        for i in sorted(set(range(len(rows))) - set(good)):
            chunk.problems.append(
                Problem(lines[i], f"{len(rows[i])} fields, the header has {width}")
            )
        rows = [rows[i] for i in good]
        lines = [lines[i] for i in good]
    if not rows:
        return chunk
    columns = list(zip(*rows, strict=True))
    failed: dict[int, str] = {}  # position in rows → message of the first problem
    values = {name: [v.strip() for v in columns[i]] for name, i in plan.fields.items()}
    labels: list[bool | None] = [None] * len(rows)
    if plan.label is not None:
        for n, text in enumerate(columns[plan.label]):
            try:
                labels[n] = _label(text.strip())
            except ValueError as exc:
                failed.setdefault(n, str(exc))
    if "occurred_at" in values:
        try:
            times, problems = plan.time.parse(values["occurred_at"])
        except NaiveTime as exc:
            where = plan.where("occurred_at", rows[exc.position])
            raise ApplicationError(
                f"line {lines[exc.position]}: occurred_at{where} has no time zone; give "
                "--timezone (e.g. --timezone UTC) or put an offset in the file. Nothing was "
                "imported."
            ) from None
        values["occurred_at"] = times
        for n, message in problems.items():
            failed.setdefault(n, f"occurred_at: {message}")
    drop: set[int] = set()
    if "amount" in values and plan.amounts.active:
        amounts = values["amount"]
        for n, text in enumerate(amounts):
            amounts[n], done = plan.amounts.apply(text)
            if done == "drop":
                drop.add(n)
            elif done:
                setattr(chunk, done, getattr(chunk, done) + 1)
    size = len(rows)
    patterns = values.pop("fraud_pattern", None)
    table = {name: [v if v != "" else None for v in col] for name, col in values.items()}
    for name, value in plan.constants.items():
        if name == "fraud_pattern":
            patterns = [value] * size
        else:
            table[name] = [value] * size
    table.setdefault("external_id", [f"{plan.id_prefix}-{line}" for line in lines])
    metadata = {
        key: _metadata_column([v.strip() for v in columns[i]])
        for key, i in zip(plan.extra_keys, plan.extra, strict=True)
    }
    cleaned, errors = validate_table(table, metadata, size)
    for n, item in enumerate(cleaned):
        if n in failed:
            chunk.problems.append(Problem(lines[n], failed[n], fraud=labels[n] is True))
        elif n in drop:
            chunk.problems.append(
                Problem(
                    lines[n],
                    f"amount {values['amount'][n]} is below {AMOUNT_MIN} "
                    "(--amount-minimum-policy drop)",
                    fraud=labels[n] is True,
                    kind="skipped",
                )
            )
        elif item is None:
            text = "; ".join(
                f"{name}: {' '.join(map(str, messages))}{plan.where(name, rows[n])}"
                for name, messages in errors[str(n)].items()
            )
            chunk.problems.append(Problem(lines[n], text, fraud=labels[n] is True))
        else:
            if labels[n] is not None:
                item["is_fraud"] = labels[n]
            if patterns and patterns[n]:
                item["fraud_pattern"] = patterns[n][:FRAUD_PATTERN_MAX_LENGTH]
            chunk.items.append(item)
            chunk.lines.append(lines[n])
    chunk.problems.sort(key=lambda p: p.line)
    return chunk


def _read_chunks(plan: _Plan, raw, reader, chunk_size: int) -> Iterator[Chunk]:
    """The file's data rows in prepared chunks (runs in the reader thread)."""
    rows: list[list[str]] = []
    lines: list[int] = []
    unreadable: list[Problem] = []
    line = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except (UnicodeDecodeError, csv.Error) as exc:
            unreadable.append(Problem(line + 1, f"unreadable line: {exc}"))
            line = reader.line_num
            continue
        start, line = line + 1, reader.line_num
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        rows.append(values)
        lines.append(start)
        if len(rows) >= chunk_size:
            yield _with_unreadable(_prepare(plan, rows, lines, raw.tell()), unreadable)
            rows, lines, unreadable = [], [], []
    if rows or unreadable:
        yield _with_unreadable(_prepare(plan, rows, lines, raw.tell()), unreadable)


def _with_unreadable(chunk: Chunk, unreadable: list[Problem]) -> Chunk:
    if unreadable:
        chunk.rows += len(unreadable)
        chunk.problems = sorted([*chunk.problems, *unreadable], key=lambda p: p.line)
    return chunk


def _in_background(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate ``items`` in a thread up to ``depth`` items ahead (parsing overlaps the database
    writes); its exceptions are raised here, and leaving the loop early stops the thread."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                slots.put(entry, timeout=0.1)
                return

    def run() -> None:
        try:
            with contextlib.closing(items):
                for item in items:
                    put((item, None))
                    if stop.is_set():
                        return
            put((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            put((None, exc))

    worker = threading.Thread(target=run, name="import-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        worker.join()


# --- the service ---------------------------------------------------------------------------


def _plan(
    *,
    header: list[str],
    path: Path,
    mapping: list[str],
    label_column: str | None,
    drop: tuple[str, ...],
    join: JoinTable | None,
    join_on: str | None,
    time: TimeParser,
    amounts: AmountPolicy,
    id_prefix: str,
) -> _Plan:
    columns, constants = parse_mapping(mapping)
    join_key = None
    if join is not None:
        left_key = (join_on or "").partition("=")[0]
        join_key = Layout(header, path.name).index(left_key, "--join-on")
        clash = sorted(set(join.header) & {h for h in header if h})
        if clash:
            raise ApplicationError(
                f"--join: column(s) {', '.join(map(repr, clash))} are in both files; rename "
                "them in one file (the key column is joined, not repeated)."
            )
        header = [*header, *join.header]
    layout = Layout(header, path.name)
    fields = {name: layout.index(ref, f"--map {name}=") for name, ref in columns.items()}
    label = layout.index(label_column, "--label-column") if label_column else None
    dropped = {layout.index(ref, "--drop") for ref in drop}
    used = {*fields.values(), *dropped, *([label] if label is not None else [])}
    extra = [i for i in range(len(header)) if i not in used]
    return _Plan(
        width=len(header),
        fields=fields,
        constants=constants,
        label=label,
        extra=extra,
        extra_keys=layout.metadata_keys(extra),
        layout=layout,
        time=time,
        amounts=amounts,
        id_prefix=id_prefix,
        join=join,
        join_key=join_key,
    )


def transactions_import(
    *,
    path: Path,
    mapping: list[str],
    label_column: str | None = None,
    timezone: str | None = None,
    time_format: str | None = None,
    drop: tuple[str, ...] = (),
    join: Path | None = None,
    join_on: str | None = None,
    amount_rounding: str = "none",
    amount_minimum_policy: str = "raise",
    bad_line_policy: str = "refuse-fraud",
    score: bool = False,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int, ImportResult], None] | None = None,
    on_bad_line: Callable[[int, str], None] | None = None,
    actor: Any = None,
) -> ImportResult:
    """Import a CSV file of transactions, all or nothing; see the module docstring.

    Rows are stored as history (status ``imported``: not scored, no cases) unless ``score`` is
    true, in which case they are stored ``pending`` and scored by the workers after the commit.
    ``on_bad_line(line, message)`` hears every line left out, in order. Raises
    :class:`ImportRefusedError` (nothing stored) when the policy refuses or the import stops
    early. One audit event (``transaction.import``) records a completed run.
    """
    path = Path(path)
    if not path.is_file():
        raise ApplicationError(f"{path}: no such file.")
    if chunk_size < 1:
        raise ApplicationError("chunk size must be at least 1.")
    amounts = AmountPolicy(
        rounding=_choice(amount_rounding, AMOUNT_ROUNDING, "--amount-rounding"),
        minimum=_choice(amount_minimum_policy, AMOUNT_MINIMUM_POLICIES, "--amount-minimum-policy"),
    )
    _choice(bad_line_policy, BAD_LINE_POLICIES, "--on-bad-line")
    if (join is None) != (join_on is None):
        raise ApplicationError(
            "--join and --join-on go together (e.g. --join ids.csv --join-on id)."
        )
    parse_mapping(mapping)  # option errors first, before reading anything
    time = TimeParser(time_format, timezone)
    table = JoinTable(join, (join_on or "").partition("=")[2] or join_on) if join else None
    result = ImportResult(file_sha256=file_sha256(path))
    total_bytes = path.stat().st_size
    with open(path, "rb") as raw:
        reader = _open_csv(raw)
        plan = _plan(
            header=_read_header(reader, path),
            path=path,
            mapping=mapping,
            label_column=label_column,
            drop=drop,
            join=table,
            join_on=join_on,
            time=time,
            amounts=amounts,
            id_prefix=result.file_sha256[:16],
        )
        with transaction.atomic():
            chunks = _in_background(_read_chunks(plan, raw, reader, chunk_size))
            with contextlib.closing(chunks):
                for chunk in chunks:
                    _take(chunk, result, bad_line_policy, on_bad_line)
                    if not result.refused:  # once refused, only read on to report every line
                        _store(chunk, result, bad_line_policy, score, on_bad_line)
                    if progress is not None:
                        progress(chunk.position, total_bytes, result)
            if result.refused:
                raise ImportRefusedError(_refusal(result), result)
            audit_record(
                action="transaction.import",
                actor=actor,
                actor_label="" if actor else "system:import_transactions",
                after={
                    "file": path.name,
                    "sha256": result.file_sha256,
                    "rows": result.rows,
                    "imported": result.imported,
                    "duplicates": result.duplicates,
                    "bad_lines": result.bad,
                    "skipped": result.skipped,
                    "lost_frauds": result.lost_frauds,
                    "rounded": result.rounded,
                    "clamped": result.clamped,
                    "joined": join.name if join else None,
                    "scored": score,
                },
            )
    return result


def _problem(result: ImportResult, problem: Problem, policy: str, on_bad_line) -> None:
    """Count and report a line left out; a bad line the policy does not allow refuses."""
    if problem.kind == "bad":
        result.bad += 1
        if policy == "refuse" or (policy == "refuse-fraud" and problem.fraud):
            result.refused = result.refused or policy
    else:
        result.skipped += 1
    if problem.fraud:
        result.lost_frauds += 1
        if len(result.fraud_lines) < ImportResult.MAX_REPORTED:
            result.fraud_lines.append(problem.line)
    if len(result.bad_lines) < ImportResult.MAX_REPORTED:
        result.bad_lines.append((problem.line, problem.message))
    if on_bad_line is not None:
        on_bad_line(problem.line, problem.message)


def _take(chunk: Chunk, result: ImportResult, policy: str, on_bad_line) -> None:
    """Count a chunk's lines and problems; stop early when no line so far was valid."""
    result.rows += chunk.rows
    result.valid += len(chunk.items)
    result.rounded += chunk.rounded
    result.clamped += chunk.clamped
    result.joined += chunk.joined
    result.unmatched += chunk.unmatched
    if not result.valid and result.rows >= EARLY_STOP_ROWS and chunk.problems:
        first = chunk.problems[0]
        raise ImportRefusedError(
            f"The first {result.rows:,} lines are all invalid, so the options do not fit the "
            f"file (line {first.line}: {first.message}). Check --map, --time-format and "
            "--timezone; nothing was imported.",
            result,
        )
    for problem in chunk.problems:
        _problem(result, problem, policy, on_bad_line)


def _refusal(result: ImportResult) -> str:
    lines = ", ".join(map(str, result.fraud_lines[:20])) + (
        ", …" if result.lost_frauds > 20 else ""
    )
    if result.refused == "refuse":
        head = f"{result.bad:,} bad line(s) and --on-bad-line refuse"
        choice = "--on-bad-line refuse-fraud (or skip)"
    else:
        head = f"{result.lost_frauds:,} line(s) labelled fraud cannot be imported (lines {lines})"
        choice = "--on-bad-line skip"
    return (
        f"Import refused, nothing was stored: {head}. Fix the lines named above, or re-run "
        f"with {choice} to import the rest without them. Amounts with more than 2 decimals "
        "or below 0.01 can be kept with --amount-rounding and --amount-minimum-policy."
    )


def _store(chunk: Chunk, result: ImportResult, policy: str, score: bool, on_bad_line) -> None:
    """Store a chunk's valid items (repeats of an external id in the chunk are duplicates); an
    item the database refuses becomes a bad line and the rest is stored."""
    seen: set[str] = set()
    items, lines = [], []
    for item, line in zip(chunk.items, chunk.lines, strict=True):
        if item["external_id"] in seen:
            result.duplicates += 1
            continue
        seen.add(item["external_id"])
        items.append(item)
        lines.append(line)
    result.labelled += sum(1 for item in items if "is_fraud" in item)
    while items:
        try:
            stored = transactions_store(
                items=items,
                source=Transaction.Source.IMPORT,
                mode="async" if score else "history",
            )
        except BatchValidationError as exc:
            refused = {int(i) for i in exc.errors}
            for i in sorted(refused):
                message = " ".join(exc.errors[str(i)].get("non_field_errors", ["refused"]))
                fraud = items[i].get("is_fraud") is True
                result.labelled -= "is_fraud" in items[i]
                _problem(result, Problem(lines[i], message, fraud=fraud), policy, on_bad_line)
            items = [x for i, x in enumerate(items) if i not in refused]
            lines = [x for i, x in enumerate(lines) if i not in refused]
            continue
        result.imported += stored.accepted
        result.duplicates += stored.duplicates
        return
