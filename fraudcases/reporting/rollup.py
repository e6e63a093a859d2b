"""Building and folding the transaction rollups (:mod:`fraudcases.rollup_models`).

How they stay right:

- database triggers on ``scoring_transaction`` (migration ``0011``) record the UTC day of every
  inserted, deleted or chart-relevantly updated row in :class:`RollupDirtyDay`, in the writer's
  own transaction: a re-scored, relabelled, late or deleted transaction marks its day, whatever
  code path wrote it;
- :func:`rollup_refresh` (the beat task ``fraudcases.rollup_refresh`` every
  ``REPORTING_ROLLUP_REFRESH_SECONDS``, and the dashboard itself when the last fold is older
  than ``REPORTING_ROLLUP_MAX_LAG_SECONDS``) claims the dirty days and recomputes the local
  days they touch from the transactions: delete the days' rollup rows, one ``INSERT … SELECT
  … GROUP BY`` per rollup and grain. Whole days from the source, never increments, so running
  it twice, or after a crash, gives the same rows;
- a change of ``TIME_ZONE`` (the rollups' days are local days) rebuilds everything.

One fold at a time: PostgreSQL takes a transaction-level advisory lock (a second caller skips:
the first one is doing the work); SQLite write transactions are exclusive anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import (
    Cast,
    Coalesce,
    ExtractHour,
    ExtractIsoWeekDay,
    Floor,
    Round,
    TruncDate,
)
from django.utils import timezone

from core.models import AuditEvent
from scoring.models import Rule, Transaction

from ..models import Case, CaseTransaction
from ..rollup_models import (
    CaseDayRollup,
    CaseFact,
    CaseLinkFact,
    FlaggedCellRollup,
    FlaggedHourRollup,
    RollupDirtyCase,
    RollupDirtyDay,
    RollupState,
    TopValueRollup,
    TransactionDayRollup,
)

FLAGGED_LEVELS = ("high", "critical")
STATE = "transactions"
_LOCK_ID = 0x66637270  # "fcrp": the fold's advisory lock on PostgreSQL
FLAGGED = Q(risk_level__in=FLAGGED_LEVELS)


@dataclass(frozen=True)
class _Spec:
    """One rollup: which transactions, the key columns beyond the shared ones, the measures."""

    model: type
    where: Q
    keys: dict
    measures: dict
    # Grains built: the by-country one (False) and the detail one (True). The top-values
    # rollup has one row per merchant and day already, so it keeps only an overall grain
    # (``country`` summed over too); a filtered view reads the transactions for those charts.
    grains: tuple[bool, ...] = (False, True)
    by_country: bool = True

    def queryset(self, *, detail: bool, days: tuple[datetime, datetime] | None) -> QuerySet:
        """The grouped ``SELECT`` whose rows are the rollup's rows (columns in insert order)."""
        qs = Transaction.objects.filter(self.where).order_by()
        if days is not None:
            qs = qs.filter(occurred_at__gte=days[0], occurred_at__lt=days[1])
        dims = {
            "r_day": TruncDate("occurred_at"),
            "r_detail": Value(detail),
            "r_channel": F("channel") if detail else Value(""),
            "r_country": F("country") if detail or self.by_country else Value(""),
            "r_risk": F("risk_level") if detail else Value(""),
            "r_model": Coalesce(F("model_version__version"), Value("")) if detail else Value(""),
            **{f"r_{k}": v for k, v in self.keys.items()},
        }
        names = list(dims)
        return (
            qs.annotate(**dims)
            .values(*names)
            .annotate(**{f"m_{k}": v for k, v in self.measures.items()})
            .values_list(*names, *(f"m_{k}" for k in self.measures))
        )

    @property
    def columns(self) -> list[str]:
        shared = ["day", "detail", "channel", "country", "risk_level", "model"]
        return shared + list(self.keys) + list(self.measures)


def _top(kind: str, field: str) -> _Spec:
    return _Spec(
        TopValueRollup,
        ~Q(**{field: ""}),
        {"kind": Value(kind), "value": F(field)},
        {
            "n": Count("id"),
            "labelled": Count("id", filter=Q(is_fraud__isnull=False)),
            "fraud": Count("id", filter=Q(is_fraud=True)),
        },
        grains=(False,),
        by_country=False,
    )


SPECS: tuple[_Spec, ...] = (
    _Spec(
        TransactionDayRollup,
        Q(),
        # Floor: risks have one decimal and a cast alone rounds on PostgreSQL (95.5 → 10).
        {"band": Cast(Floor(F("risk_score") / 10), IntegerField())},
        {
            "n": Count("id"),
            "flagged": Count("id", filter=FLAGGED),
            "labelled": Count("id", filter=Q(is_fraud__isnull=False)),
            "fraud": Count("id", filter=Q(is_fraud=True)),
        },
    ),
    _Spec(
        FlaggedHourRollup,
        FLAGGED,
        {"weekday": ExtractIsoWeekDay("occurred_at"), "hour": ExtractHour("occurred_at")},
        {"n": Count("id")},
    ),
    _Spec(
        FlaggedCellRollup,
        FLAGGED & Q(latitude__isnull=False, longitude__isnull=False),
        {"lat": Round("latitude"), "lon": Round("longitude")},
        {"n": Count("id")},
    ),
    _top("merchant", "merchant_id"),
    _top("category", "merchant_category"),
)
MODELS = tuple(dict.fromkeys(spec.model for spec in SPECS))  # TopValueRollup once


def _insert(spec: _Spec, *, days: tuple[datetime, datetime] | None) -> None:
    table = spec.model._meta.db_table
    names = ", ".join(connection.ops.quote_name(c) for c in spec.columns)
    with connection.cursor() as cursor:
        for detail in spec.grains:
            sql, params = spec.queryset(detail=detail, days=days).query.sql_with_params()
            cursor.execute(f"INSERT INTO {table} ({names}) {sql}", params)


# --- Case facts -----------------------------------------------------------------------------

CASE_CHUNK = 5000
CASES = "cases"  # the case facts' state row (their own version: a case fold leaves the
# transaction charts' cached rows valid)
LINK_COLUMNS = ["transaction_id", "case_id", "amount", "currency", "channel", "country", "model"]
LINK_COLUMNS += ["reasons", "case_status", "case_disposition", "case_risk_level", "case_closed_at"]
# The case columns copied into CaseFact, in the order of FACT_COLUMNS after "case_id".
CASE_COLUMNS = [
    "status",
    "priority",
    "risk_level",
    "risk_score",
    "disposition",
    "account_id",
    "assignee_id",
    "created_at",
    "closed_at",
    "due_at",
]
FACT_COLUMNS = ["case_id", *CASE_COLUMNS, "is_open", "amount", "opened_at", "first_action_at"]


def _insert_rows(model, columns: list[str], qs: QuerySet) -> None:
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({names}) {sql}", params)


def _first_event(**lookups) -> Subquery:
    """The time of the case's first audit event matching ``lookups`` (Min: one index range
    on the case, not a walk of the log in id order)."""
    return Subquery(
        AuditEvent.objects.filter(case=OuterRef("pk"), **lookups)
        .order_by()
        .values("case")
        .annotate(at=Min("created_at"))
        .values("at")
    )


# At most this many rules get a precision / overturn column (one conditional count each) and
# rows in the case day rollup.
MAX_RULES = 40


def rule_names() -> list[str]:
    """The rules the dashboard reports on: the first ``MAX_RULES`` by name."""
    return list(Rule.objects.order_by("name").values_list("name", flat=True)[:MAX_RULES])


def rule_q(path: str, name: str) -> Q:
    """The transaction (or link fact, ``path``) fired the rule ``name``: rules put
    ``{"code": "rule:<name>", ...}`` into the reasons; names are unique."""
    return Q(**{f"{path}reasons__icontains": f'"rule:{name}"'})


def _case_day_specs(bounds: tuple[datetime, datetime] | None) -> list[tuple[list[str], QuerySet]]:
    """The grouped ``SELECT``s whose rows are the :class:`CaseDayRollup` rows of the local days
    in ``bounds`` (None: every day), with their columns in insert order."""

    def in_days(qs: QuerySet, field: str) -> QuerySet:
        if bounds is not None:
            qs = qs.filter(**{f"{field}__gte": bounds[0], f"{field}__lt": bounds[1]})
        return qs.order_by()

    def grouped(qs: QuerySet, dims: dict, measures: dict) -> tuple[list[str], QuerySet]:
        names = [f"r_{k}" for k in dims]
        rows = (
            qs.annotate(**{f"r_{k}": v for k, v in dims.items()})
            .values(*names)
            .annotate(**{f"m_{k}": v for k, v in measures.items()})
            .values_list(*names, *(f"m_{k}" for k in measures))
        )
        return [*dims, *measures], rows

    facts = CaseFact.objects.all()
    closed = Case.Status.CLOSED
    links = in_days(CaseLinkFact.objects.filter(case_status=closed), "case_closed_at")

    def per_value(kind: str, value: str) -> dict:
        return {
            "day": TruncDate("case_closed_at"),
            "kind": Value(kind),
            "risk_level": F("case_risk_level"),
            "priority": Value(""),
            "disposition": F("case_disposition"),
            "value": F(value),
        }

    distinct_cases = Count("case", distinct=True)
    return [
        grouped(
            in_days(facts, "created_at"),
            {
                "day": TruncDate("created_at"),
                "kind": Value("opened"),
                "risk_level": F("risk_level"),
                "priority": F("priority"),
                "disposition": Value(""),
                "value": Value(""),
            },
            {"n": Count("pk")},
        ),
        grouped(
            in_days(facts.filter(status=closed), "closed_at"),
            {
                "day": TruncDate("closed_at"),
                "kind": Value("closed"),
                "risk_level": F("risk_level"),
                "priority": F("priority"),
                "disposition": F("disposition"),
                "value": Value(""),
            },
            {"n": Count("pk")},
        ),
        grouped(links, per_value("closed_model", "model"), {"n": distinct_cases}),
        # One per rule (the rules of now: a change to the rules table rebuilds the rollups).
        *(
            grouped(
                links.filter(rule_q("", name)),
                {**per_value("closed_rule", "model"), "value": Value(name)},
                {"n": distinct_cases},
            )
            for name in rule_names()
        ),
        grouped(
            links,
            per_value("closed_currency", "currency"),
            {"n": distinct_cases, "amount": Sum("amount")},
        ),
    ]


def _case_days(case_ids: list[int]) -> set[date]:
    """The local days the facts of these cases were opened or closed on."""
    out: set[date] = set()
    for part in (case_ids[i : i + CASE_CHUNK] for i in range(0, len(case_ids), CASE_CHUNK)):
        rows = (
            CaseFact.objects.filter(case_id__in=part)
            .annotate(c=TruncDate("created_at"), z=TruncDate("closed_at"))
            .values_list("c", "z")
            .distinct()
        )
        out.update(d for row in rows for d in row if d is not None)
    return out


def _case_day_rollup(days: set[date] | None) -> None:
    """Recompute the case day rollup of these local days (None: all) from the facts."""
    if days is None:
        CaseDayRollup.objects.all().delete()
        targets = [None]
    else:
        CaseDayRollup.objects.filter(day__in=days).delete()
        targets = [_local_bounds(day) for day in sorted(days)]
    for bounds in targets:
        for columns, qs in _case_day_specs(bounds):
            _insert_rows(CaseDayRollup, columns, qs)


def _case_facts(case_ids: list[int] | None) -> None:
    """Recompute the facts of these cases (None: of every case) from the cases, their links,
    the transactions and the audit log, then the case day rollup of the days they were and
    are opened or closed on; whole cases and whole days, so it is idempotent."""
    links = CaseTransaction.objects.order_by()
    cases = Case.objects.order_by()
    if case_ids is None:
        CaseLinkFact.objects.all().delete()
        CaseFact.objects.all().delete()
        parts = [None]
    else:
        parts = [case_ids[i : i + CASE_CHUNK] for i in range(0, len(case_ids), CASE_CHUNK)]
    amount = (
        CaseTransaction.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(total=Sum("transaction__amount"))
        .values("total")
    )
    days = None if case_ids is None else _case_days(case_ids)  # where they were
    for part in parts:
        these_links = links if part is None else links.filter(case_id__in=part)
        these_cases = cases if part is None else cases.filter(id__in=part)
        if part is not None:
            # A link moved to another case leaves with its transaction id.
            moved = these_links.values("transaction_id")
            CaseLinkFact.objects.filter(Q(case_id__in=part) | Q(transaction_id__in=moved)).delete()
            CaseFact.objects.filter(case_id__in=part).delete()
        _insert_rows(
            CaseLinkFact,
            LINK_COLUMNS,
            these_links.values_list(
                "transaction_id",
                "case_id",
                "transaction__amount",
                "transaction__currency",
                "transaction__channel",
                "transaction__country",
                Coalesce(F("transaction__model_version__version"), Value("")),
                Cast("transaction__reasons", TextField()),
                "case__status",
                "case__disposition",
                "case__risk_level",
                "case__closed_at",
            ),
        )
        _insert_rows(
            CaseFact,
            FACT_COLUMNS,
            these_cases.values_list(
                "id",
                *CASE_COLUMNS,
                ExpressionWrapper(Q(status__in=Case.OPEN_STATUSES), output_field=BooleanField()),
                Subquery(amount),
                _first_event(action="case.open"),
                _first_event(actor__isnull=False),
            ),
        )
    if days is not None:
        days |= _case_days(case_ids)  # and where they are now
    _case_day_rollup(days)


def _dirty_cases(days: list[date]) -> list[int]:
    """Claim the dirty-case marks; with the cases whose transactions are in ``days``."""
    marks = list(RollupDirtyCase.objects.values_list("id", "case_id"))
    ids = {case_id for _, case_id in marks}
    if marks:
        RollupDirtyCase.objects.filter(id__lte=max(i for i, _ in marks), case_id__in=ids).delete()
    for day in days:
        start, end = _local_bounds(day)
        ids.update(
            CaseTransaction.objects.filter(
                transaction__occurred_at__gte=start, transaction__occurred_at__lt=end
            ).values_list("case_id", flat=True)
        )
    return sorted(ids)


def _local_bounds(day: date) -> tuple[datetime, datetime]:
    """The instants a local day (``TIME_ZONE``) starts and ends."""
    return (
        timezone.make_aware(datetime.combine(day, time.min)),
        timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min)),
    )


def local_days_of(utc_days: list[date]) -> set[date]:
    """The local days (``TIME_ZONE``) that the UTC days overlap (one or two each)."""
    zone = timezone.get_current_timezone()
    out = set()
    for d in utc_days:
        start = datetime.combine(d, time.min, tzinfo=UTC)
        end = start + timedelta(days=1) - timedelta(microseconds=1)
        out.update({start.astimezone(zone).date(), end.astimezone(zone).date()})
    return out


def _locked() -> bool:
    """Take the fold lock for this transaction; False when another fold holds it."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_ID])
        return bool(cursor.fetchone()[0])


def _state(name: str = STATE) -> RollupState:
    state, _ = RollupState.objects.get_or_create(name=name)
    return state


def _stamp(state: RollupState, *, built: bool) -> None:
    now = timezone.now()
    state.refreshed_at = now
    if built:
        state.built_at = now
        state.time_zone = settings.TIME_ZONE
    state.version += 1
    state.save()


@transaction.atomic
def rollup_rebuild() -> int:
    """Rebuild every rollup from all transactions (first start, a change of ``TIME_ZONE``);
    returns the number of rollup rows. Idempotent."""
    if not _locked():
        return 0
    state = _state()
    RollupDirtyDay.objects.all().delete()
    RollupDirtyCase.objects.all().delete()
    for model in MODELS:
        model.objects.all().delete()
    for spec in SPECS:
        _insert(spec, days=None)
    _case_facts(None)
    _stamp(state, built=True)
    _stamp(_state(CASES), built=True)
    return sum(rollup_sizes().values())


@transaction.atomic
def rollup_refresh() -> int:
    """Fold the dirty days into the rollups (rebuild all when never built or built for another
    ``TIME_ZONE``); returns the number of local days recomputed. Idempotent; a second
    concurrent call returns 0 at once."""
    if not _locked():
        return 0
    state = _state()
    if state.built_at is None or state.time_zone != settings.TIME_ZONE:
        rollup_rebuild()
        return -1
    marks = list(RollupDirtyDay.objects.values_list("id", "day"))
    claimed = sorted({day for _, day in marks})
    # Only marks seen committed: one committed meanwhile (id below the highest seen, a day
    # not claimed) stays for the next fold. The recompute below reads after this delete, so it
    # sees every change whose mark it deletes.
    if marks:
        RollupDirtyDay.objects.filter(id__lte=max(i for i, _ in marks), day__in=claimed).delete()
    days = sorted(local_days_of(claimed))
    cases = _dirty_cases(days)
    if not days and not cases:
        return 0
    for model in MODELS:
        model.objects.filter(day__in=days).delete()
    for spec in SPECS:
        for day in days:
            _insert(spec, days=_local_bounds(day))
    _case_facts(cases)
    _stamp(state, built=False)
    if cases:
        _stamp(_state(CASES), built=False)
    return len(days)


def _needs_fold(state: RollupState | None) -> bool:
    if state is None or state.built_at is None or state.time_zone != settings.TIME_ZONE:
        return True
    lag = timedelta(seconds=settings.REPORTING_ROLLUP_MAX_LAG_SECONDS)
    if state.refreshed_at and timezone.now() - state.refreshed_at < lag:
        return False
    # Marked cases alone do not need a fold of the days: case_facts_version folds them.
    return RollupDirtyDay.objects.exists()


def rollup_version() -> str:
    """The rollups' version (part of the dashboard's cache key), after a fold when the last one
    is older than ``REPORTING_ROLLUP_MAX_LAG_SECONDS`` and days are dirty, or the rollups were
    never built for this ``TIME_ZONE``: the charts are never further behind than that, with or
    without the beat task. One query when fresh."""
    state = RollupState.objects.filter(name=STATE).first()
    if _needs_fold(state):
        rollup_refresh()
        state = RollupState.objects.filter(name=STATE).first()
    return str(state.version if state else 0)


@transaction.atomic
def case_facts_refresh() -> int:
    """Fold only the marked cases into the case facts (what a case chart reads); returns the
    number of cases recomputed. Cheap (a few cases after a claim or a closure), so the
    dashboard runs it before every computation of a case chart: a closure shows at once. A
    fold already running (it holds the lock, and folds the marked cases too) makes it return 0
    at once."""
    if not _locked():
        return 0
    state = _state()
    if state.built_at is None or state.time_zone != settings.TIME_ZONE:
        rollup_rebuild()
        return -1
    cases = _dirty_cases([])
    if not cases:
        return 0
    _case_facts(cases)
    _stamp(_state(CASES), built=False)
    return len(cases)


def case_facts_version() -> str:
    """The case facts' version (part of the case charts' cache key), after folding the cases
    marked since the last fold. One query when nothing is marked."""
    row = (
        RollupState.objects.filter(name=CASES)
        .annotate(dirty=Exists(RollupDirtyCase.objects.all()))
        .values_list("version", "dirty")
        .first()
    )
    if row is None or row[1]:
        case_facts_refresh()
        row = RollupState.objects.filter(name=CASES).values_list("version").first()
    return str(row[0] if row else 0)


def rollup_sizes() -> dict[str, int]:
    """Rows per rollup table."""
    tables = (*MODELS, CaseLinkFact, CaseFact, CaseDayRollup)
    return {m._meta.model_name: m.objects.count() for m in tables}
