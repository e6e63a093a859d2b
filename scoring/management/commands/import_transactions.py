"""``manage.py import_transactions <csv> --map field=column ...``: bring your own data."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from scoring.services.importer import MAPPABLE_FIELDS, ImportResult, transactions_import


class Command(BaseCommand):
    help = (
        "Import transactions from a CSV file with any column layout. Rows are stored as history "
        "(not scored, no cases) unless --score is given; bad lines are reported by number and "
        "skipped; importing the same file again adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", help="Path of the CSV file (header line first).")
        parser.add_argument(
            "--map",
            dest="mapping",
            action="extend",
            nargs="+",
            required=True,
            metavar="FIELD=COLUMN",
            help=(
                "field=column, or field=:constant (e.g. currency=:USD). Fields: "
                + ", ".join(MAPPABLE_FIELDS)
                + ". account_id, amount and occurred_at are required. Unmapped columns go into "
                "metadata."
            ),
        )
        parser.add_argument("--label-column", help="Column with the fraud label (1/0, yes/no).")
        parser.add_argument("--timezone", help="Zone of times without an offset (e.g. UTC).")
        parser.add_argument(
            "--time-format",
            help="strftime pattern, 'unix', or 'offset:<s|h>:<ISO start>' (default ISO 8601).",
        )
        parser.add_argument(
            "--drop",
            action="extend",
            nargs="+",
            default=[],
            metavar="COLUMN",
            help="Columns to leave out entirely (not even in metadata), e.g. names, addresses.",
        )
        parser.add_argument(
            "--score", action="store_true", help="Score the rows live (may open cases)."
        )
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **opts):
        started = time.monotonic()
        show_progress = not opts["no_progress"]
        drop = tuple(c for item in opts["drop"] for c in item.split(",") if c)

        def progress(done: int, total: int, result: ImportResult) -> None:
            if not show_progress:
                return
            share = done / total if total else 1.0
            bar = "#" * int(share * 30)
            sys.stderr.write(
                f"\r[{bar:<30}] {share:6.1%} {result.rows:,} rows, {result.imported:,} new, "
                f"{result.bad:,} bad"
            )
            sys.stderr.flush()

        def bad_line(line: int, message: str) -> None:
            if show_progress:
                sys.stderr.write("\n")
            self.stderr.write(f"line {line}: {message}")

        try:
            result = transactions_import(
                path=Path(opts["csv"]),
                mapping=opts["mapping"],
                label_column=opts["label_column"],
                timezone=opts["timezone"],
                time_format=opts["time_format"],
                drop=drop,
                score=opts["score"],
                chunk_size=opts["chunk_size"],
                progress=progress,
                on_bad_line=bad_line,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if show_progress:
            sys.stderr.write("\n")
        self.stdout.write(
            f"Read {result.rows:,} rows from {opts['csv']} in {time.monotonic() - started:.1f} s: "
            f"{result.imported:,} imported, {result.duplicates:,} already present, "
            f"{result.bad:,} bad line(s) skipped; {result.labelled:,} labelled. "
            + ("Scoring is queued." if opts["score"] else "Stored as history (not scored).")
        )
