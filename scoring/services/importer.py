"""CSV import of transactions with any column layout (``manage.py import_transactions``).

The file is streamed twice with constant memory: once to hash it (ids of rows without a mapped
``external_id`` are ``<first 16 hex of the SHA-256>-<line number>``, so re-importing the same file
adds nothing), once to read it in chunks. Each chunk is checked by the one ingestion validator
(``scoring.schema``), so an import accepts exactly what ``POST /api/v1/transactions`` accepts; a
bad line is reported with its number and skipped, the rest goes in. Columns that are not mapped
go into ``metadata`` (numbers as numbers, so numeric ones can become model features); ``drop``
keeps columns out altogether (e.g. cardholder names and addresses that no model should see).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.audit import audit_record
from core.errors import ApplicationError

from ..engine.fields import FRAUD_PATTERN_MAX_LENGTH, TRANSACTION_FIELDS
from ..engine.ml import file_sha256
from ..models import Transaction
from ..schema import validate_items
from .ingest import transactions_store

CHUNK_SIZE = 5000
# Fields a column (or a constant) can be mapped to: the API's fields plus the fraud pattern name.
MAPPABLE_FIELDS = (*(f for f in TRANSACTION_FIELDS if f != "metadata"), "fraud_pattern")
# What a file must give (external ids are made up from the file's hash and line when absent).
REQUIRED_FIELDS = ("account_id", "amount", "occurred_at")
TRUE_LABELS = frozenset({"1", "true", "t", "yes", "y", "fraud"})
FALSE_LABELS = frozenset({"0", "false", "f", "no", "n", "legit", "legitimate", ""})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class ImportResult:
    """What one import did. ``bad_lines`` keeps the first ``MAX_REPORTED`` problems."""

    MAX_REPORTED = 1000

    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    bad: int = 0
    labelled: int = 0
    file_sha256: str = ""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


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


class TimeParser:
    """Turns the time column into an aware datetime.

    ``time_format``: ``None`` (ISO 8601), a ``strptime`` pattern, ``unix`` (seconds since the
    epoch) or ``offset:<s|h>:<ISO start>`` (seconds or hours since a start). Times without a zone
    are read in ``timezone`` (required for them).
    """

    def __init__(self, time_format: str | None, timezone: str | None):
        try:
            self.zone = ZoneInfo(timezone) if timezone else None
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ApplicationError(f"--timezone {timezone!r} is not a known time zone.") from exc
        self.kind = "iso"
        self.pattern = ""
        if time_format is None or time_format.lower() == "iso":
            return
        if time_format.lower() == "unix":
            self.kind = "unix"
        elif time_format.startswith("offset:"):
            parts = time_format.split(":", 2)
            if len(parts) != 3 or parts[1] not in ("s", "h"):
                raise ApplicationError(
                    f"--time-format {time_format!r}: expected offset:<s|h>:<ISO start>, "
                    "e.g. offset:h:2024-01-01T00:00:00Z."
                )
            self.kind = "offset"
            self.unit = 1 if parts[1] == "s" else 3600
            try:
                start = datetime.fromisoformat(parts[2].replace("Z", "+00:00"))
            except ValueError as exc:
                raise ApplicationError(f"--time-format: bad start {parts[2]!r}: {exc}") from exc
            self.start = self._aware(start, "--time-format start")
        else:
            if "%" not in time_format:
                raise ApplicationError(
                    f"--time-format {time_format!r}: expected a strftime pattern such as "
                    "'%Y-%m-%d %H:%M:%S', 'unix' or 'offset:<s|h>:<ISO start>'."
                )
            self.kind = "strptime"
            self.pattern = time_format

    def _aware(self, value: datetime, what: str) -> datetime:
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value
        if self.zone is None:
            raise ValueError(f"{what} has no time zone; give --timezone (e.g. --timezone UTC)")
        return value.replace(tzinfo=self.zone)

    def __call__(self, text: str) -> datetime:
        text = text.strip()
        if not text:
            raise ValueError("empty time")
        if self.kind == "unix":
            return datetime.fromtimestamp(float(text), tz=UTC)
        if self.kind == "offset":
            return self.start + timedelta(seconds=float(text) * self.unit)
        if self.kind == "strptime":
            return self._aware(datetime.strptime(text, self.pattern), f"time {text!r}")
        return self._aware(datetime.fromisoformat(text.replace("Z", "+00:00")), f"time {text!r}")


def _metadata_value(text: str) -> Any:
    if _NUMBER.match(text):
        if text.lstrip("+-").isdigit():
            return int(text)
        return float(text)
    return text


def _error_text(errors: dict) -> str:
    parts = []
    for name, messages in errors.items():
        if isinstance(messages, dict):
            messages = [f"{k}: {v}" for k, v in messages.items()]
        parts.append(f"{name}: {' '.join(str(m) for m in messages)}")
    return "; ".join(parts)


def transactions_import(
    *,
    path: Path,
    mapping: list[str],
    label_column: str | None = None,
    timezone: str | None = None,
    time_format: str | None = None,
    drop: tuple[str, ...] = (),
    score: bool = False,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int, ImportResult], None] | None = None,
    on_bad_line: Callable[[int, str], None] | None = None,
    actor: Any = None,
) -> ImportResult:
    """Import a CSV file of transactions; see the module docstring.

    Rows are stored as history (status ``imported``: not scored, no cases) unless ``score`` is
    true, in which case they are stored ``pending`` and scored by the workers like API traffic.
    Each chunk is stored in its own transaction, so an interrupted import keeps what it stored
    and running it again completes it. One audit event (``transaction.import``) records the run.
    """
    path = Path(path)
    if not path.is_file():
        raise ApplicationError(f"{path}: no such file.")
    if chunk_size < 1:
        raise ApplicationError("chunk size must be at least 1.")
    columns, constants = parse_mapping(mapping)
    parse_time = TimeParser(time_format, timezone)
    result = ImportResult(file_sha256=file_sha256(path))
    id_prefix = result.file_sha256[:16]
    total_bytes = path.stat().st_size

    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration as exc:
            raise ApplicationError(f"{path}: the file is empty.") from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ApplicationError(f"{path}: cannot read the header line: {exc}") from exc
        position = {name: i for i, name in enumerate(header)}
        wanted = [*columns.values(), *([label_column] if label_column else []), *drop]
        unknown = [c for c in wanted if c not in position]
        if unknown:
            raise ApplicationError(
                f"Column(s) {', '.join(map(repr, unknown))} not in the header of {path.name}; "
                f"it has {', '.join(header)}."
            )
        used = {*columns.values(), *drop, *([label_column] if label_column else [])}
        extra = [(name, i) for name, i in position.items() if name not in used]
        field_index = {f: position[c] for f, c in columns.items()}
        label_index = position[label_column] if label_column else None
        # Raw items of the chunk being read, with their line numbers and labels.
        chunk: list[dict] = []
        chunk_lines: list[tuple[int, bool | None, str]] = []

        def bad(line: int, message: str) -> None:
            result.bad += 1
            if len(result.bad_lines) < ImportResult.MAX_REPORTED:
                result.bad_lines.append((line, message))
            if on_bad_line is not None:
                on_bad_line(line, message)

        def flush() -> None:
            if not chunk:
                return
            cleaned, errors = validate_items(chunk, allow_repeats=True)
            valid = []
            for index, (item, (line, is_fraud, fraud_pattern)) in enumerate(
                zip(cleaned, chunk_lines, strict=True)
            ):
                if item is None:
                    bad(line, _error_text(errors[str(index)]))
                    continue
                if is_fraud is not None:
                    item["is_fraud"] = is_fraud
                    result.labelled += 1
                if fraud_pattern:
                    item["fraud_pattern"] = fraud_pattern[:FRAUD_PATTERN_MAX_LENGTH]
                valid.append(item)
            chunk.clear()
            chunk_lines.clear()
            if not valid:
                return
            stored = transactions_store(
                items=valid,
                source=Transaction.Source.IMPORT,
                mode="async" if score else "history",
            )
            result.imported += stored.accepted
            result.duplicates += stored.duplicates
            if progress is not None:
                progress(raw.tell(), total_bytes, result)

        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except (UnicodeDecodeError, csv.Error) as exc:
                result.rows += 1
                bad(reader.line_num, f"unreadable line: {exc}")
                continue
            line = reader.line_num
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            result.rows += 1
            if len(values) != len(header):
                bad(line, f"{len(values)} fields, the header has {len(header)}")
                continue
            item, is_fraud, problem = _row_item(
                values, field_index, constants, extra, label_index, parse_time
            )
            if problem:
                bad(line, problem)
                continue
            if "external_id" not in item:
                item["external_id"] = f"{id_prefix}-{line}"
            fraud_pattern = item.pop("fraud_pattern", "")
            chunk.append(item)
            chunk_lines.append((line, is_fraud, fraud_pattern))
            if len(chunk) >= chunk_size:
                flush()
        flush()
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
            "scored": score,
        },
    )
    return result


def _row_item(
    values: list[str],
    field_index: dict[str, int],
    constants: dict[str, str],
    extra: list[tuple[str, int]],
    label_index: int | None,
    parse_time: TimeParser,
) -> tuple[dict[str, Any], bool | None, str]:
    """One CSV row as an API-shaped dict, its label, and a problem (empty when fine)."""
    item: dict[str, Any] = dict(constants)
    for name, i in field_index.items():
        value = values[i].strip()
        if value:
            item[name] = value
    if "occurred_at" in item:
        original = item["occurred_at"]
        try:
            item["occurred_at"] = parse_time(original).isoformat()
        except (ValueError, OverflowError, OSError) as exc:
            return item, None, f"occurred_at: cannot read {original!r} ({exc})"
    if item.get("latitude") is None and item.get("longitude") is None:
        item.pop("latitude", None)
        item.pop("longitude", None)
    metadata = {name: _metadata_value(values[i].strip()) for name, i in extra if values[i].strip()}
    if metadata:
        item["metadata"] = metadata
    is_fraud = None
    if label_index is not None:
        label = values[label_index].strip().lower()
        if label in TRUE_LABELS:
            is_fraud = True
        elif label and label in FALSE_LABELS:
            is_fraud = False
        elif label:
            return item, None, f"label {values[label_index]!r} is not 1/0, true/false or yes/no"
    return item, is_fraud, ""
