"""Date-times taken from people's filters, made safe for every database."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms

RANGE_MESSAGE = "Out of range: the time must fall between the years 1 and 9999 in UTC."


def filter_datetime_utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC, or a form error when it has no UTC equivalent.

    Python accepts offsets up to ±23:59 (``+18:29``) and times that leave years 1-9999 once
    converted (``0001-01-01T00:00:00+14:00``); PostgreSQL refuses offsets beyond ±15:59 and
    SQLite compares text. Converting at the form keeps both out of the query.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise forms.ValidationError(RANGE_MESSAGE, code="out_of_range") from None
