"""``manage.py import_transactions <csv> --map field=column ...``: bring your own data."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ApplicationError
from scoring.services.importer import (
    AMOUNT_MINIMUM_POLICIES,
    AMOUNT_ROUNDING,
    BAD_LINE_POLICIES,
    CHUNK_SIZE,
    MAPPABLE_FIELDS,
    OFFSET_HELP,
    ImportRefusedError,
    ImportResult,
    transactions_import,
)

# Bad lines printed on stderr; all of them go to --report.
MAX_PRINTED = 1000


def split_positional(
    csv_path: str | None, mapping: list[str], drop: list[str]
) -> tuple[str, list[str], list[str]]:
    """The CSV path even when it was written after the ``--map`` pairs (or the ``--drop``
    columns), which argparse takes as one more value: a map pair always has ``=``, so a value
    without one is the path; a last ``--drop`` value that is an existing file is too."""
    mapping, drop = list(mapping), list(drop)
    loose = [m for m in mapping if "=" not in m]
    if csv_path is None and len(loose) == 1:
        mapping.remove(loose[0])
        csv_path = loose[0]
    elif csv_path is None and drop and Path(drop[-1]).is_file():
        csv_path = drop.pop()
    if csv_path is None:
        raise CommandError(
            "Give the CSV file's path, e.g. import_transactions data.csv --map amount=amt …"
        )
    return csv_path, mapping, drop


class Command(BaseCommand):
    help = (
        "Import transactions from a CSV file with any column layout, all or nothing. Rows are "
        "stored as history (not scored, no cases) unless --score is given; bad lines are "
        "reported by line and column; importing the same file again adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", nargs="?", help="Path of the CSV file (header line first).")
        parser.add_argument(
            "--map",
            dest="mapping",
            action="extend",
            nargs="+",
            required=True,
            metavar="FIELD=COLUMN",
            help=(
                "field=column (a header name or #<position>, 1-based), or field=:constant (e.g. "
                "currency=:USD). Fields: " + ", ".join(MAPPABLE_FIELDS) + ". account_id, amount "
                "and occurred_at are required. Unmapped columns go into metadata."
            ),
        )
        parser.add_argument(
            "--label-column", help="Column with the fraud label (1/0, 1.0/0.0, true/false, yes/no)."
        )
        parser.add_argument("--timezone", help="Zone of times without an offset (e.g. UTC).")
        parser.add_argument(
            "--time-format",
            help=f"strftime pattern, 'unix', or '{OFFSET_HELP}' (default ISO 8601).",
        )
        parser.add_argument(
            "--drop",
            action="extend",
            nargs="+",
            default=[],
            metavar="COLUMN",
            help="Columns to leave out entirely (names, addresses); '' is the blank-named "
            "column, #<n> the n-th column.",
        )
        parser.add_argument("--join", help="A second CSV whose columns are added by a key.")
        parser.add_argument(
            "--join-on", metavar="KEY", help="The key column of --join (or LEFT=RIGHT names)."
        )
        parser.add_argument(
            "--amount-rounding",
            choices=list(AMOUNT_ROUNDING),
            default="none",
            help="Round amounts with more than 2 decimals to cents (default none: such a line "
            "is bad).",
        )
        parser.add_argument(
            "--amount-minimum-policy",
            choices=AMOUNT_MINIMUM_POLICIES,
            default="raise",
            help="Amounts from 0 to under 0.01: raise (a bad line, default), clamp (to 0.01) "
            "or drop (skip the row, counted and listed).",
        )
        parser.add_argument(
            "--on-bad-line",
            choices=BAD_LINE_POLICIES,
            default="refuse-fraud",
            help="refuse-fraud (default): skip bad lines, but refuse the import if one is "
            "labelled fraud; skip: import the rest anyway; refuse: refuse on any bad line.",
        )
        parser.add_argument("--report", help="Write every line left out to this CSV file.")
        parser.add_argument(
            "--score", action="store_true", help="Score the rows live (may open cases)."
        )
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **opts):
        started = time.monotonic()
        csv_path, mapping, drop_values = split_positional(
            opts["csv"], opts["mapping"], opts["drop"]
        )
        drop = tuple(c for item in drop_values for c in (item.split(",") if item else [""]))
        path = Path(csv_path)
        bar = tqdm(
            total=path.stat().st_size if path.is_file() else 0,
            unit="B",
            unit_scale=True,
            desc="import",
            file=sys.stderr,
            disable=True if opts["no_progress"] else None,  # None: only on a terminal
        )
        printed = 0
        report = open(opts["report"], "w", newline="") if opts["report"] else None  # noqa: SIM115
        writer = csv.writer(report) if report else None
        if writer:
            writer.writerow(["line", "problem"])

        def progress(done: int, total: int, result: ImportResult) -> None:
            bar.update(max(0, done - bar.n))
            bar.set_postfix(rows=f"{result.rows:,}", bad=f"{result.bad + result.skipped:,}")

        def bad_line(line: int, message: str) -> None:
            nonlocal printed
            if writer:
                writer.writerow([line, message])
            printed += 1
            if printed <= MAX_PRINTED:
                with bar.external_write_mode():
                    self.stderr.write(f"line {line}: {message}")

        try:
            result = transactions_import(
                path=path,
                mapping=mapping,
                label_column=opts["label_column"],
                timezone=opts["timezone"],
                time_format=opts["time_format"],
                drop=drop,
                join=Path(opts["join"]) if opts["join"] else None,
                join_on=opts["join_on"],
                amount_rounding=opts["amount_rounding"],
                amount_minimum_policy=opts["amount_minimum_policy"],
                bad_line_policy=opts["on_bad_line"],
                score=opts["score"],
                chunk_size=opts["chunk_size"],
                progress=progress,
                on_bad_line=bad_line,
            )
        except ImportRefusedError as exc:
            self._more(printed)
            raise CommandError(f"{exc.message} (read {exc.result.rows:,} lines)") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
            if report:
                report.close()
        self._more(printed)
        self.stdout.write(self._summary(result, csv_path, opts, time.monotonic() - started))

    def _more(self, printed: int) -> None:
        if printed > MAX_PRINTED:
            self.stderr.write(
                f"… and {printed - MAX_PRINTED:,} more line(s) not shown (--report FILE lists "
                "them all)."
            )

    @staticmethod
    def _summary(result: ImportResult, csv_path: str, opts: dict, seconds: float) -> str:
        rate = f" ({result.rows / seconds:,.0f} rows/s)" if seconds > 0 else ""
        parts = [
            f"Read {result.rows:,} rows from {csv_path} in {seconds:.1f} s{rate}: "
            f"{result.imported:,} imported, {result.duplicates:,} already present, "
            f"{result.bad:,} bad line(s) skipped; {result.labelled:,} labelled."
        ]
        if result.skipped:
            parts.append(f"{result.skipped:,} row(s) dropped by --amount-minimum-policy drop.")
        if result.lost_frauds:
            lines = ", ".join(map(str, result.fraud_lines[:20]))
            more = ", …" if result.lost_frauds > 20 else ""
            parts.append(
                f"{result.lost_frauds:,} line(s) labelled fraud were NOT imported (lines "
                f"{lines}{more})."
            )
        if result.rounded or result.clamped:
            parts.append(
                f"{result.rounded:,} amount(s) rounded to cents, {result.clamped:,} raised to 0.01."
            )
        if opts["join"]:
            parts.append(
                f"Joined {opts['join']}: {result.joined:,} row(s) matched, "
                f"{result.unmatched:,} without a match."
            )
        parts.append("Scoring is queued." if opts["score"] else "Stored as history (not scored).")
        return " ".join(parts)
