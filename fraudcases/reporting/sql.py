"""Database expressions the aggregates need, for SQLite and PostgreSQL alike.

- :class:`Median`: ``percentile_cont(0.5)`` on PostgreSQL; on SQLite an aggregate function
  registered on the connection (SQLite has no median), so the median is still computed by the
  database in the grouped query, not by fetching rows;
- :class:`Seconds`: seconds between two datetimes, as a float.
"""

from __future__ import annotations

import statistics

from django.db.models import Aggregate, FloatField, Func

_SQLITE_MEDIAN = "fc_median"


class _SqliteMedian:
    """SQLite aggregate: the median of the non-null values (None when there is none)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def _sqlite_register(connection) -> None:
    connection.ensure_connection()
    connection.connection.create_aggregate(_SQLITE_MEDIAN, 1, _SqliteMedian)


class Median(Aggregate):
    """The median (continuous: the mean of the two middle values for an even count)."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    allow_distinct = False

    def as_sqlite(self, compiler, connection, **extra_context):
        _sqlite_register(connection)
        return super().as_sql(
            compiler,
            connection,
            function=_SQLITE_MEDIAN,
            template="%(function)s(%(expressions)s)",
            **extra_context,
        )


class Seconds(Func):
    """``end - start`` in seconds (float); NULL when either is NULL."""

    arity = 2
    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)",
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra_context,
        )
