"""Helpers of the ``import_transactions`` tests: run the command, write a CSV file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.core.management import call_command


def run(*args) -> tuple[str, str]:
    """The command's (stdout, stderr), without the progress bar."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_transactions", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """A CSV file with this header and rows."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
