"""Set-based writes the ORM makes too slow for the batch path: a multi-row insert that skips
conflicts and returns what it stored, and one UPDATE of many rows with their own values.

``bulk_create`` and ``bulk_update`` build a model instance per row, prepare every value through
its field, and ``bulk_update`` writes one ``CASE WHEN id = … THEN …`` per column: about 70 % of
a 1,000-item POST and most of the scoring worker's write. Here the values go column by column:

- PostgreSQL: the rows are copied (``COPY``, text format, written by psycopg's C code) into a
  session-local temporary table that holds no constraint, then moved into the real table with
  one ``INSERT … SELECT … ON CONFLICT (…) DO NOTHING RETURNING …`` or one ``UPDATE … FROM``.
  Every constraint, type and length is checked by the real table, so a refused value raises
  ``DataError`` / ``IntegrityError`` exactly as an ORM write would. The temporary table is
  emptied by the statement that reads it (``DELETE … RETURNING`` in a CTE) and at commit.
- SQLite (and any other backend): multi-row ``VALUES`` in chunks under the backend's parameter
  limit, ``ON CONFLICT (…) DO NOTHING RETURNING …`` (SQLite ≥ 3.35) and ``UPDATE … FROM`` (≥ 3.33);
  values are prepared as the fields themselves would (``get_db_prep_save``), column by column.
- PostgreSQL with at most ``VALUES_ROWS`` rows (the synchronous ``/score``: one): the same one
  ``VALUES`` statement, each value cast to its column's base type. The scratch table costs
  three statements (``CREATE … IF NOT EXISTS``, ``COPY``, the move) where one does: measured
  on one row, 1.9 ms instead of 3.4 ms for the insert and 0.9 ms instead of 2.3 ms for the
  update.

Values must be what the model field holds in Python (``str``, ``Decimal``, aware ``datetime``,
``float``, ``dict``/``list`` for JSON, …): callers pass validated data. No signals are sent, as
with ``bulk_create`` / ``bulk_update``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Field, Model, QuerySet
from django.db.models.lookups import In

_ORDINAL = "_bulk_ordinal"
# Up to this many rows, PostgreSQL writes them in one ``VALUES`` statement, not through COPY.
VALUES_ROWS = 8


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _base_type(field: Field) -> str:
    """The column's type without length or precision (``varchar(100)`` → ``varchar``), so the
    temporary table accepts anything and the real table's own checks speak."""
    return _base_types(field, connection.vendor)


@functools.cache
def _base_types(field: Field, vendor: str) -> str:  # one answer per field and database kind
    return field.db_type(connection).split("(")[0].strip()


def _json_text(field: Field) -> Callable[[Any], str]:
    encoder = field.encoder

    def dump(value: Any) -> str:
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # what orjson does not take (e.g. Decimal, non-str keys): as Django
            return json.dumps(value, cls=encoder)

    return dump


def _pg_values(field: Field, values: list[Any]) -> list[Any]:
    """Values as psycopg's COPY writes them (its dumpers do the text), prepared as the field
    would prepare them where that matters."""
    kind = field.get_internal_type()
    if kind in ("CharField", "TextField"):
        if set(map(type, values)) <= _TEXT_OR_NULL:  # what the field passes through as it is
            return values
    elif kind == "JSONField":
        dump = _json_text(field)
        return [None if v is None else dump(v) for v in values]
    elif kind == "GenericIPAddressField":
        return [field.get_prep_value(v) if v else None for v in values]
    elif kind == "DateTimeField":
        if all(v is None or (isinstance(v, datetime) and v.tzinfo is not None) for v in values):
            return values
    elif kind in _PG_AS_IS or (kind in _PG_KEYS and all(type(v) is int for v in values)):
        return values  # int keys as they are: their preparation was 3 ms of a 1,000-row write
    return [field.get_db_prep_save(v, connection) for v in values]


_PG_KEYS = {"AutoField", "BigAutoField", "SmallAutoField"}
_TEXT_OR_NULL = {str, type(None)}


_PG_AS_IS = {
    "BigIntegerField",
    "BooleanField",
    "DecimalField",
    "FloatField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "UUIDField",
}


# Values the field would pass through unchanged on other backends (``get_db_prep_save`` of a
# value of exactly this Python type returns it as it is), by the field's internal type.
_GENERIC_AS_IS: dict[str, tuple[type, ...]] = {
    "CharField": (str,),
    "TextField": (str,),
    "FloatField": (float,),
    "BooleanField": (bool,),
    "DecimalField": (Decimal,),
    "IntegerField": (int,),
    "BigIntegerField": (int,),
    "PositiveIntegerField": (int,),
    "PositiveSmallIntegerField": (int,),
    "SmallIntegerField": (int,),
    "ForeignKey": (int,),
    "BigAutoField": (int,),
    "AutoField": (int,),
}


def _generic_values(field: Field, values: list[Any]) -> list[Any]:
    """Values as ``field.get_db_prep_save`` prepares them for SQLite (and other backends),
    column by column: the field's own call per value was most of a CSV import on SQLite
    (142,490 rows: 2.5 million calls). Values of the types the field passes through are taken
    as they are, aware times are made naive in the connection's zone and written as text
    (``adapt_datetimefield_value``), JSON is dumped by the backend's own adapter; anything else
    goes through the field. ``tests/scoring/test_bulk_prepare.py`` checks each against the
    field."""
    kind = field.get_internal_type()
    as_is = _GENERIC_AS_IS.get(kind)
    if as_is is not None and all(v is None or type(v) in as_is for v in values):
        return values
    if kind == "DateTimeField" and settings.USE_TZ:
        zone = connection.timezone
        if all(v is None or (isinstance(v, datetime) and v.tzinfo is not None) for v in values):
            return [
                None if v is None else str(v.astimezone(zone).replace(tzinfo=None)) for v in values
            ]
    if kind == "GenericIPAddressField" and all(v is None or v == "" for v in values):
        return [None] * len(values)  # no address: NULL, as the field stores a blank one
    if kind == "JSONField" and all(v is None or type(v) in (dict, list) for v in values):
        adapt = connection.ops.adapt_json_value
        return [None if v is None else adapt(v, field.encoder) for v in values]
    return [field.get_db_prep_save(v, connection) for v in values]


def _values(fields: list[Field], columns: list[list[Any]]) -> list[list[Any]]:
    """Each column's values as this backend's ``VALUES`` parameters take them."""
    prepare = _pg_values if connection.vendor == "postgresql" else _generic_values
    return [prepare(f, col) for f, col in zip(fields, columns, strict=True)]


def _placeholders(fields: list[Field]) -> list[str]:
    """One parameter per column; on PostgreSQL cast to the column's base type, since a
    ``VALUES`` list has no column types of its own to infer them from (``UPDATE … FROM``)."""
    if connection.vendor == "postgresql":
        return [f"%s::{_base_type(f)}" for f in fields]
    return ["%s"] * len(fields)


def _fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    return [model._meta.get_field(name) for name in names]


def _temp_table(fields: list[Field], key: str) -> str:
    """A session-local scratch table for these columns (created once per connection; its rows
    vanish at commit, and the statements below empty it as they read it)."""
    columns = [(f.column, _base_type(f)) for f in fields]
    digest = hashlib.sha1(repr((key, columns)).encode()).hexdigest()[:12]
    name = f"_bulk_{digest}"
    ddl = ", ".join(f"{_quote(c)} {t}" for c, t in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} "
            f"({_quote(_ORDINAL)} integer, {ddl}) ON COMMIT DELETE ROWS"
        )
    return name


def _copy_in(table: str, fields: list[Field], columns: list[list[Any]]) -> None:
    names = ", ".join(_quote(c) for c in [_ORDINAL, *(f.column for f in fields)])
    prepared = [_pg_values(f, col) for f, col in zip(fields, columns, strict=True)]
    sql = f"COPY {table} ({names}) FROM STDIN"
    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for n, row in enumerate(zip(*prepared, strict=True)):
            copy.write_row((n, *row))
    if connection.queries_logged:  # counted like any query (assertNumQueries, debug toolbar)
        seconds = time.monotonic() - started
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(columns[0])} rows", "time": f"{seconds:.3f}"}
        )


def _constants_sql(fields: list[Field], values: list[Any]) -> tuple[list[str], list[Any]]:
    """One parameter per constant column, cast to the column's base type."""
    params = [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)]
    if connection.vendor == "postgresql":
        return [f"%s::{_base_type(f)}" for f in fields], params
    return ["%s"] * len(fields), params


def _pg_insert(fields, columns, const_sql, const_params, table, target, tail) -> list[tuple]:
    scratch = _temp_table(fields, key=f"insert:{table}")
    _copy_in(scratch, fields, columns)
    selected = ", ".join([*(f"r.{_quote(f.column)}" for f in fields), *const_sql])
    sql = (
        f"WITH r AS (DELETE FROM {scratch} RETURNING *) "
        f"INSERT INTO {table} ({target}) SELECT {selected} FROM r "
        f"ORDER BY r.{_quote(_ORDINAL)} {tail}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, const_params)
        return [tuple(row) for row in cursor.fetchall()]


def insert_ignoring_conflicts(
    *,
    model: type[Model],
    columns: dict[str, list[Any]],
    constants: dict[str, Any],
    conflict: str,
    returning: Sequence[str],
) -> list[tuple]:
    """Insert one row per position of ``columns`` (field name → values, all the same length),
    with ``constants`` (field name → value) on every row; rows whose ``conflict`` field (a
    unique column) is already taken are skipped. Returns the ``returning`` columns of the rows
    this statement stored, in the order given.

    Any other refusal (a CHECK, a NOT NULL, a value too long) raises as the ORM would; on SQLite
    too (``ON CONFLICT (…) DO NOTHING`` covers that one constraint, unlike ``INSERT OR IGNORE``).
    """
    names = list(columns)
    lists = [columns[n] for n in names]
    count = len(lists[0]) if lists else 0
    if count == 0:
        return []
    varying = _fields(model, names)
    fixed = _fields(model, list(constants))
    const_sql, const_params = _constants_sql(fixed, list(constants.values()))
    target = ", ".join(_quote(f.column) for f in [*varying, *fixed])
    table = _quote(model._meta.db_table)
    tail = (
        f"ON CONFLICT ({_quote(model._meta.get_field(conflict).column)}) DO NOTHING "
        f"RETURNING {', '.join(_quote(model._meta.get_field(r).column) for r in returning)}"
    )
    if connection.vendor == "postgresql" and count > VALUES_ROWS:
        # The scratch table's rows vanish at commit: never let it run in autocommit.
        with transaction.atomic(savepoint=False):
            return _pg_insert(varying, lists, const_sql, const_params, table, target, tail)
    prepared = _values(varying, lists)
    per_row = len(varying) + len(fixed)
    chunk = max(1, (connection.features.max_query_params or 999) // per_row)
    one = "(" + ", ".join(_placeholders(varying) + const_sql) + ")"
    stored: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, count, chunk):
            rows = list(zip(*(col[start : start + chunk] for col in prepared), strict=True))
            params = [p for row in rows for p in (*row, *const_params)]
            values = ", ".join([one] * len(rows))
            cursor.execute(f"INSERT INTO {table} ({target}) VALUES {values} {tail}", params)
            stored += [tuple(row) for row in cursor.fetchall()]
    return stored


def update_rows(
    *,
    model: type[Model],
    pks: list[Any],
    columns: dict[str, list[Any]],
    constants: dict[str, Any] | None = None,
) -> int:
    """Set ``columns`` (field name → one value per primary key in ``pks``) and ``constants``
    (field name → one value for all) on those rows, in one statement on PostgreSQL (``UPDATE …
    FROM`` a copied scratch table) and in chunks of ``UPDATE … FROM (VALUES …)`` elsewhere.
    Returns the number of rows updated."""
    if not pks:
        return 0
    constants = constants or {}
    pk = model._meta.pk
    names = list(columns)
    varying = _fields(model, names)
    fixed = _fields(model, list(constants))
    const_sql, const_params = _constants_sql(fixed, list(constants.values()))
    table = _quote(model._meta.db_table)
    sets = [f"{_quote(f.column)} = v.{_quote(f.column)}" for f in varying] + [
        f"{_quote(f.column)} = {sql}" for f, sql in zip(fixed, const_sql, strict=True)
    ]
    where = f"{table}.{_quote(pk.column)} = v.{_quote(pk.column)}"
    if connection.vendor == "postgresql" and len(pks) > VALUES_ROWS:
        with transaction.atomic(savepoint=False):  # the scratch rows vanish at commit
            scratch = _temp_table([pk, *varying], key=f"update:{table}")
            _copy_in(scratch, [pk, *varying], [pks, *(columns[n] for n in names)])
            sql = (
                f"WITH v AS (DELETE FROM {scratch} RETURNING *) "
                f"UPDATE {table} SET {', '.join(sets)} FROM v WHERE {where}"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, const_params)
                return cursor.rowcount
    prepared = _values([pk, *varying], [pks, *(columns[n] for n in names)])
    width = len(prepared)
    chunk = max(1, ((connection.features.max_query_params or 999) - len(const_params)) // width)
    # A VALUES list names its columns column1, column2, … on SQLite and PostgreSQL alike. The
    # statement starts with UPDATE: Python's sqlite3 reports no row count for one that starts
    # with WITH.
    aliases = ", ".join(
        f"column{n} AS {_quote(f.column)}" for n, f in enumerate([pk, *varying], start=1)
    )
    one = "(" + ", ".join(_placeholders([pk, *varying])) + ")"
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(pks), chunk):
            rows = list(zip(*(col[start : start + chunk] for col in prepared), strict=True))
            values = ", ".join([one] * len(rows))
            cursor.execute(
                f"UPDATE {table} SET {', '.join(sets)} "
                f"FROM (SELECT {aliases} FROM (VALUES {values}) AS r) AS v WHERE {where}",
                [*(p for row in rows for p in row), *const_params],
            )
            updated += cursor.rowcount
    return updated


class AnyOf(In):
    """``field IN (values)`` that sends the values as one array on PostgreSQL:
    ``"field" = ANY(%s::type[])``; ``In`` itself elsewhere. Use as an expression:
    ``filter(AnyOf(F("account_id"), accounts))``.

    Django's ``__in`` writes one placeholder per value, and psycopg splits and converts the
    statement in Python: on the scoring worker's history query (about 3,000 values for a batch
    of 1,000) that was about 12 ms per batch under the profiler before PostgreSQL saw it, and
    as much again to send the parameters. The planner reads both forms the same way (``IN (…)``
    is ``= ANY (ARRAY[…])`` to it), so the indexes used do not change. A subquery on the right
    is left to ``In``.
    """

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value():
            return self.as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [value for value in self.rhs if value is not None]
        if not values:
            raise EmptyResultSet
        cast = _base_type(self.lhs.output_field)
        return f"{lhs} = ANY(%s::{cast}[])", (*lhs_params, values)


def fetch_rows_binary(queryset: QuerySet) -> list[tuple]:
    """The rows of a ``values_list`` queryset as tuples, read in PostgreSQL's binary format.

    Parsing numbers and times from text is most of what reading a large result costs in Python
    (measured on the scoring worker's history query of ~28,000 rows: 250 ms of CPU for
    ``values_list`` with ``numeric`` and ``timestamptz`` columns, 29 ms in binary with the amount
    cast to ``float8`` and the time as integer microseconds). The statement is the queryset's own
    SQL with its parameters bound by the server; it is counted in ``connection.queries`` like
    any query. Other backends: ``list(queryset)``.
    """
    if connection.vendor != "postgresql":
        return list(queryset)
    import psycopg  # the PostgreSQL driver, present wherever this branch runs

    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. ``IN`` of nothing: the ORM answers no rows without asking
        return []
    started = time.monotonic()
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append(
            {
                "sql": f"{sql} -- binary, {len(rows)} rows",
                "time": f"{time.monotonic() - started:.3f}",
            }
        )
    return rows
