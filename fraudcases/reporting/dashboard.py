"""The dashboard's charts: one grouped query per chart, cached briefly, exported as CSV.

Every chart is a :class:`Chart` in :data:`CHARTS`: its columns and a function that runs one
grouped query for the filters and returns rows of JSON-ready values (str, int, float, None).
The page embeds those rows (``json_script``), the static script draws them, and
``/dashboard/<chart>.csv`` writes the very same rows, so what is downloaded is what is shown.

Definitions (docs/reporting.md has the long form):

- *flagged*: a transaction scored ``high`` or ``critical``; *flagged rate*: flagged / scored;
- *alert precision*: the share of closed cases closed as ``fraud_confirmed``; a case counts for
  every model version (or rule) among its transactions;
- *time to first action*: from the case's ``case.open`` audit event (or its creation) to the
  first audit event by a person; *time to close*: from creation to closure;
- *overturn rate*: overturned quality reviews / completed reviews of the period's closures.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db import models as m
from django.db.models import (
    Count,
    F,
    FloatField,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
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
from core.permissions import user_can
from scoring.models import ModelVersion

from ..models import Case, CaseTransaction, QAReview
from ..rollup_models import (
    CaseDayRollup,
    CaseFact,
    CaseLinkFact,
    FlaggedCellRollup,
    FlaggedHourRollup,
    TopValueRollup,
    TransactionDayRollup,
)
from .filters import DashboardFilters
from .rollup import case_facts_version, rollup_version
from .rollup import rule_names as _rule_names
from .rollup import rule_q as _rule_q
from .sql import Median, Seconds

FLAGGED_LEVELS = ("high", "critical")
S = Case.Status
D = Case.Disposition
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

Row = list[Any]


@dataclass(frozen=True)
class Chart:
    """One chart: what it shows (``kind`` tells the script how to draw it) and its query."""

    name: str
    title: str
    kind: str
    columns: tuple[str, ...]
    compute: Callable[[DashboardFilters], list[Row]]
    description: str = ""
    # The same rows straight from the transactions table, for a chart that reads a rollup
    # (tests check that both agree).
    raw: Callable[[DashboardFilters], list[Row]] | None = None
    # What its cached rows depend on: the rollups' version, or the audit log's last event.
    source: str = "cases"


def _ratio(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 2)


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.2f}"


def _day(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- Transactions ---------------------------------------------------------------------------


def _volume_rows(f: DashboardFilters, per_day) -> list[Row]:
    found = {_day(r["day"]): r for r in per_day}
    rows = []
    for day in f.days:
        r = found.get(day.isoformat(), {})
        transactions, scored, flagged = (
            r.get(k) or 0 for k in ("transactions", "scored", "flagged")
        )
        rows.append([day.isoformat(), transactions, scored, flagged, _ratio(flagged, scored)])
    return rows


def _volume_raw(f: DashboardFilters) -> list[Row]:
    return _volume_rows(
        f,
        f.transactions()
        .annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(
            transactions=Count("id"),
            scored=Count("id", filter=Q(risk_score__isnull=False)),
            flagged=Count("id", filter=Q(risk_level__in=FLAGGED_LEVELS)),
        ),
    )


def _volume(f: DashboardFilters) -> list[Row]:
    return _volume_rows(
        f,
        _rolled(TransactionDayRollup, f)
        .values("day")
        .annotate(
            transactions=Sum("n"),
            scored=Sum("n", filter=Q(band__isnull=False)),
            flagged=Sum("flagged"),
        ),
    )


def _band_rows(per_band) -> list[Row]:
    counts = [0] * 10
    for r in per_band:
        counts[min(int(r["band"]), 9)] += r["n"]  # 100 belongs to the top band
    return [[f"{10 * i}-{10 * i + 9 if i < 9 else 100}", n] for i, n in enumerate(counts)]


def _score_bands_raw(f: DashboardFilters) -> list[Row]:
    return _band_rows(
        f.transactions()
        .filter(risk_score__isnull=False)
        # Floor: risks have one decimal, and a cast alone rounds on PostgreSQL (95.5 → band 10).
        .annotate(band=Cast(Floor(F("risk_score") / 10), IntegerField()))
        .values("band")
        .annotate(n=Count("id"))
    )


def _score_bands(f: DashboardFilters) -> list[Row]:
    return _band_rows(
        _rolled(TransactionDayRollup, f)
        .filter(band__isnull=False)
        .values("band")
        .annotate(n=Sum("n"))
    )


def _heatmap_rows(cells) -> list[Row]:
    found = {(r["wd"], r["hr"]): r["n"] for r in cells}
    return [
        [WEEKDAYS[wd - 1], hr, found.get((wd, hr), 0)] for wd in range(1, 8) for hr in range(24)
    ]


def _heatmap_raw(f: DashboardFilters) -> list[Row]:
    return _heatmap_rows(
        f.transactions()
        .filter(risk_level__in=FLAGGED_LEVELS)
        .annotate(wd=ExtractIsoWeekDay("occurred_at"), hr=ExtractHour("occurred_at"))
        .values("wd", "hr")
        .annotate(n=Count("id"))
    )


def _heatmap(f: DashboardFilters) -> list[Row]:
    return _heatmap_rows(
        _rolled(FlaggedHourRollup, f).values(wd=F("weekday"), hr=F("hour")).annotate(n=Sum("n"))
    )


MAP_CELLS = 2000


def _map_raw(f: DashboardFilters) -> list[Row]:
    """Flagged transactions with coordinates, counted per 1° cell (at most 2,000 cells)."""
    rows = (
        f.transactions()
        .filter(risk_level__in=FLAGGED_LEVELS, latitude__isnull=False, longitude__isnull=False)
        .annotate(lat=Round("latitude"), lon=Round("longitude"))
        .values("lat", "lon")
        .annotate(n=Count("id"))
        .order_by("-n", "lat", "lon")[:MAP_CELLS]
    )
    return [[float(r["lat"]), float(r["lon"]), r["n"]] for r in rows]


def _map(f: DashboardFilters) -> list[Row]:
    rows = (
        _rolled(FlaggedCellRollup, f)
        .values("lat", "lon")
        .annotate(n=Sum("n"))
        .order_by("-n", "lat", "lon")[:MAP_CELLS]
    )
    return [[float(r["lat"]), float(r["lon"]), r["n"]] for r in rows]


def _ranked(qs, field: str) -> list[Row]:
    """Values annotated with ``transactions`` / ``labelled`` / ``fraud``: the top ten by rate."""
    rows = (
        qs.filter(labelled__gte=settings.REPORTING_TOP_MIN_LABELLED, fraud__gt=0)
        .annotate(rate=Cast(F("fraud"), FloatField()) / Cast(F("labelled"), FloatField()))
        .order_by("-rate", "-fraud", field)[:10]
    )
    return [
        [r[field], r["transactions"], r["labelled"], r["fraud"], round(r["rate"], 4)] for r in rows
    ]


def _top_raw(field: str) -> Callable[[DashboardFilters], list[Row]]:
    def compute(f: DashboardFilters) -> list[Row]:
        return _ranked(
            f.transactions()
            .exclude(**{field: ""})
            .values(field)
            .annotate(
                transactions=Count("id"),
                labelled=Count("id", filter=Q(is_fraud__isnull=False)),
                fraud=Count("id", filter=Q(is_fraud=True)),
            ),
            field,
        )

    return compute


def _top(kind: str, field: str) -> Callable[[DashboardFilters], list[Row]]:
    raw = _top_raw(field)

    def compute(f: DashboardFilters) -> list[Row]:
        if kind == "country":
            qs = _rolled(TransactionDayRollup, f).exclude(country="").values(value=F("country"))
        elif f.channel or f.country or f.risk or f.model:
            return raw(f)  # the top-values rollup has no filter dimensions (rollup.py)
        else:
            qs = _rolled(TopValueRollup, f).filter(kind=kind).values("value")
        summed = qs.annotate(transactions=Sum("n"), labelled=Sum("labelled"), fraud=Sum("fraud"))
        return _ranked(summed, "value")

    return compute


def _rolled(model, f: DashboardFilters):
    """The rollup rows of the filters' days: the by-country grain unless a channel, risk level
    or model version filter needs the detail grain."""
    detail = bool(f.channel or f.risk or f.model)
    lookups = {"day__gte": f.start, "day__lte": f.end, "detail": detail}
    for column, value in (
        ("channel", f.channel),
        ("country", f.country),
        ("risk_level", f.risk),
        ("model", f.model),
    ):
        if value:
            lookups[column] = value
    return model.objects.filter(**lookups).order_by()


# --- Cases ----------------------------------------------------------------------------------


def _cases(f: DashboardFilters) -> QuerySet:
    """The cases a case chart reads: their facts (one narrow row per case, no join), or the
    cases themselves on the raw path."""
    return (Case if f.raw else CaseFact).objects.all()


def _case_days(f: DashboardFilters, *kinds: str) -> QuerySet | None:
    """The case day rollup's rows of these kinds for the filters' days and risk level; None
    when a transaction filter applies (a case matches through any of its transactions, which
    a day rollup cannot say) or on the raw path: then the chart reads the case facts."""
    if f.raw or f.transaction_filtered:
        return None
    rows = CaseDayRollup.objects.filter(kind__in=kinds, day__gte=f.start, day__lte=f.end)
    return (rows.filter(risk_level=f.risk) if f.risk else rows).order_by()


def _case_flow(f: DashboardFilters) -> list[Row]:
    rolled = _case_days(f, "opened", "closed")
    if rolled is not None:
        found = {
            (_day(day), kind): n
            for day, kind, n in rolled.values_list("day", "kind").annotate(n=Sum("n"))
        }
        return _flow_rows(f, found)
    opened = (
        f.cases(_cases(f), date_field="created_at")
        .annotate(day=TruncDate("created_at"), kind=Value("opened"))
        .values_list("day", "kind")
        .annotate(n=Count("pk"))
    )
    closed = (
        f.cases(_cases(f).filter(status=S.CLOSED), date_field="closed_at")
        .annotate(day=TruncDate("closed_at"), kind=Value("closed"))
        .values_list("day", "kind")
        .annotate(n=Count("pk"))
    )
    found = {(_day(day), kind): n for day, kind, n in opened.union(closed, all=True)}
    return _flow_rows(f, found)


def _flow_rows(f: DashboardFilters, found: dict[tuple[str, str], int]) -> list[Row]:
    return [
        [
            d.isoformat(),
            found.get((d.isoformat(), "opened"), 0),
            found.get((d.isoformat(), "closed"), 0),
        ]
        for d in f.days
    ]


def _sla_state(now) -> m.Case:
    soon = [
        m.When(
            priority=priority,
            due_at__lte=now + timedelta(seconds=hours * 3600 * settings.CASE_SLA_DUE_SOON_SHARE),
            then=Value("due_soon"),
        )
        for priority, hours in settings.CASE_SLA_HOURS.items()
    ]
    return m.Case(
        m.When(due_at__isnull=True, then=Value("no_due")),
        m.When(due_at__lte=now, then=Value("breached")),
        *soon,
        default=Value("ok"),
        output_field=m.CharField(),
    )


SLA_COLUMNS = ("breached", "due_soon", "ok", "no_due")


def _backlog(f: DashboardFilters) -> list[Row]:
    """Open cases now (whatever the date range) by priority and SLA state."""
    found = {
        (r["priority"], r["sla"]): r["n"]
        for r in f.cases(_cases(f).filter(status__in=Case.OPEN_STATUSES), date_field=None)
        .annotate(sla=_sla_state(timezone.now()))
        .values("priority", "sla")
        .annotate(n=Count("pk"))
    }
    return [
        [p, *(found.get((p, s), 0) for s in SLA_COLUMNS)] for p in reversed(Case.Priority.values)
    ]


def _first_action_seconds() -> Seconds:
    # Min() over the case's events (not ORDER BY id LIMIT 1, which PostgreSQL may plan as a
    # walk of the whole log in id order): one index lookup on the case per case.
    first = (
        AuditEvent.objects.filter(case=OuterRef("pk"), actor__isnull=False)
        .order_by()
        .values("case")
        .annotate(at=Min("created_at"))
        .values("at")
    )
    opened = (
        AuditEvent.objects.filter(case=OuterRef("pk"), action="case.open")
        .order_by()
        .values("case")
        .annotate(at=Min("created_at"))
        .values("at")
    )
    return Seconds(Subquery(first), Coalesce(Subquery(opened), F("created_at")))


def _handling(f: DashboardFilters) -> list[Row]:
    """Cases closed in the range, by priority: medians of time to first action and to close."""
    first = (
        _first_action_seconds()
        if f.raw
        else Seconds(F("first_action_at"), Coalesce(F("opened_at"), F("created_at")))
    )
    found = {
        r["priority"]: r
        for r in f.cases(_cases(f).filter(status=S.CLOSED), date_field="closed_at")
        .values("priority")
        .annotate(
            n=Count("pk"),
            first=Median(first),
            close=Median(Seconds(F("closed_at"), F("created_at"))),
        )
    }
    rows = []
    for p in reversed(Case.Priority.values):
        r = found.get(p, {"n": 0, "first": None, "close": None})
        rows.append([p, r["n"], _hours(r["first"]), _hours(r["close"])])
    return rows


def _money_rows(f: DashboardFilters) -> list[Row]:
    """Amount of the transactions in open cases (now) and in cases closed as fraud in the
    range, per currency."""
    rolled = _case_days(f, "closed_currency")
    if rolled is not None:
        return _money_rolled(f, rolled)
    links, c = _links(f)
    closed_fraud = Q(
        **{
            f"{c.case}status": S.CLOSED,
            f"{c.case}disposition": D.FRAUD_CONFIRMED,
            f"{c.case}closed_at__gte": f.since,
            f"{c.case}closed_at__lt": f.until,
        }
    )
    open_q = Q(**{f"{c.case}status__in": Case.OPEN_STATUSES})
    rows = (
        links.filter(f.case_q(case_path="case", risk_path=f"{c.case}risk_level"))
        .filter(open_q | closed_fraud)
        .values(cur=F(c.currency))
        .annotate(
            at_risk=Sum(c.amount, filter=open_q),
            open_cases=Count("case", distinct=True, filter=open_q),
            confirmed=Sum(c.amount, filter=closed_fraud),
            fraud_cases=Count("case", distinct=True, filter=closed_fraud),
        )
        .order_by("cur")
    )
    return [
        [
            r["cur"],
            _money(r["at_risk"]),
            r["open_cases"],
            _money(r["confirmed"]),
            r["fraud_cases"],
        ]
        for r in rows
    ]


def _money_rolled(f: DashboardFilters, rolled: QuerySet) -> list[Row]:
    """The money chart from the case facts (open now) and the day rollup (confirmed)."""
    open_links = CaseLinkFact.objects.filter(case_status__in=Case.OPEN_STATUSES)
    if f.risk:
        open_links = open_links.filter(case_risk_level=f.risk)
    at_risk = {
        r["currency"]: r
        for r in open_links.order_by()
        .values("currency")
        .annotate(at_risk=Sum("amount"), open_cases=Count("case", distinct=True))
    }
    confirmed = {
        r["value"]: r
        for r in rolled.filter(disposition=D.FRAUD_CONFIRMED)
        .values("value")
        .annotate(confirmed=Sum("amount"), fraud_cases=Sum("n"))
    }
    rows = []
    for cur in sorted(at_risk.keys() | confirmed.keys()):
        a, c = at_risk.get(cur, {}), confirmed.get(cur, {})
        rows.append(
            [
                cur,
                _money(a.get("at_risk")),
                a.get("open_cases", 0),
                _money(c.get("confirmed")),
                c.get("fraud_cases", 0),
            ]
        )
    return rows


def _dispositions(f: DashboardFilters) -> list[Row]:
    rolled = _case_days(f, "closed")
    if rolled is not None:
        found = dict(rolled.values_list("disposition").annotate(n=Sum("n")))
        return [[value, found.get(value, 0)] for value in D.values]
    found = dict(
        f.cases(_cases(f).filter(status=S.CLOSED), date_field="closed_at")
        .values_list("disposition")
        .annotate(n=Count("pk"))
        .values_list("disposition", "n")
    )
    return [[value, found.get(value, 0)] for value in D.values]


@dataclass(frozen=True)
class _LinkColumns:
    """Where the case charts find a case's transaction columns: the raw links (through the
    transactions table) or the case link facts (a narrow copy, fraudcases/rollup_models.py);
    ``to_links`` is the path from a case to them."""

    amount: str
    currency: str
    model: str
    reasons: str
    to_links: str
    case: str  # the prefix of the case's columns (status, disposition, ...) from a link


RAW_LINKS = _LinkColumns(
    "transaction__amount",
    "transaction__currency",
    "transaction__model_version__version",
    "transaction__",
    "case_transactions__transaction__",
    "case__",
)
FACT_LINKS = _LinkColumns("amount", "currency", "model", "", "link_facts__", "case_")


def _links(f: DashboardFilters):
    if f.raw:
        return CaseTransaction.objects.order_by(), RAW_LINKS
    return CaseLinkFact.objects.order_by(), FACT_LINKS


def _closed_links(f: DashboardFilters):
    links, c = _links(f)
    return links.filter(
        f.case_q(case_path="case", risk_path=f"{c.case}risk_level"),
        **{
            f"{c.case}status": S.CLOSED,
            f"{c.case}closed_at__gte": f.since,
            f"{c.case}closed_at__lt": f.until,
        },
    ), c


def _by_version(rows, *, total: str, part: str) -> list[Row]:
    """Rows per model version, "(none)" (no model version) last on every database."""
    out = [[r["version"] or "(none)", r[total], r[part], _ratio(r[part], r[total])] for r in rows]
    return sorted(out, key=lambda r: (r[0] == "(none)", r[0]))


def _precision_by_model(f: DashboardFilters) -> list[Row]:
    rolled = _case_days(f, "closed_model")
    if rolled is not None:
        rows = (
            rolled.values(version=F("value"))
            .annotate(closed=Sum("n"), fraud=Sum("n", filter=Q(disposition=D.FRAUD_CONFIRMED)))
            .order_by()
        )
        return _by_version(
            [{**r, "fraud": r["fraud"] or 0} for r in rows], total="closed", part="fraud"
        )
    links, c = _closed_links(f)
    rows = (
        links.values(version=F(c.model))
        .annotate(
            closed=Count("case", distinct=True),
            fraud=Count(
                "case", distinct=True, filter=Q(**{f"{c.case}disposition": D.FRAUD_CONFIRMED})
            ),
        )
        .order_by()
    )
    return _by_version(rows, total="closed", part="fraud")


def _raw(compute: Callable[[DashboardFilters], list[Row]]):
    """The chart's raw path: the same function over the raw links (``filters.raw``)."""
    return lambda f: compute(replace(f, raw=True))


def _precision_by_rule(f: DashboardFilters) -> list[Row]:
    names = _rule_names()
    if not names:
        return []
    rolled = _case_days(f, "closed_rule")
    if rolled is not None:
        found = {
            r["value"]: r
            for r in rolled.filter(value__in=names)
            .values("value")
            .annotate(closed=Sum("n"), fraud=Sum("n", filter=Q(disposition=D.FRAUD_CONFIRMED)))
        }
        return [
            [name, r["closed"], r["fraud"] or 0, _ratio(r["fraud"] or 0, r["closed"])]
            for name in names
            if (r := found.get(name)) and r["closed"]
        ]
    links, c = _closed_links(f)
    fraud = Q(**{f"{c.case}disposition": D.FRAUD_CONFIRMED})
    counts = {}
    for i, name in enumerate(names):
        hit = _rule_q(c.reasons, name)
        counts[f"c{i}"] = Count("case", distinct=True, filter=hit)
        counts[f"f{i}"] = Count("case", distinct=True, filter=hit & fraud)
    totals = links.aggregate(**counts)
    return [
        [name, totals[f"c{i}"], totals[f"f{i}"], _ratio(totals[f"f{i}"], totals[f"c{i}"])]
        for i, name in enumerate(names)
        if totals[f"c{i}"]
    ]


def _open_at_risk(f: DashboardFilters) -> list[Row]:
    """The ten open cases with the most money in their transactions."""
    if f.raw:
        cases = f.cases(Case.objects.filter(status__in=Case.OPEN_STATUSES), date_field=None)
        cases = cases.annotate(amount=Sum(f"{RAW_LINKS.to_links}amount"))
    else:  # the facts' (is_open, amount) index: the ten largest without a scan
        cases = f.cases(CaseFact.objects.filter(is_open=True), date_field=None)
    rows = (
        cases.filter(amount__isnull=False)
        .order_by("-amount", "pk")
        .values("pk", "account_id", "priority", "risk_score", "amount", "assignee__username")[:10]
    )
    return [
        [
            r["pk"],
            r["account_id"],
            r["priority"],
            r["risk_score"],
            _money(r["amount"]),
            r["assignee__username"] or "",
        ]
        for r in rows
    ]


# --- Quality review -------------------------------------------------------------------------


def _reviews(f: DashboardFilters):
    return (
        QAReview.objects.filter(
            f.case_q(case_path="case"),
            closed_at__gte=f.since,
            closed_at__lt=f.until,
        )
        .exclude(verdict="")
        .order_by()
    )


OVERTURN = Q(verdict=QAReview.Verdict.OVERTURN)


def _overturns_by_investigator(f: DashboardFilters) -> list[Row]:
    rows = (
        _reviews(f)
        .values("investigator__username")
        .annotate(reviewed=Count("id"), overturned=Count("id", filter=OVERTURN))
        .order_by("investigator__username")
    )
    return [
        [
            r["investigator__username"] or "(unknown)",
            r["reviewed"],
            r["overturned"],
            _ratio(r["overturned"], r["reviewed"]),
        ]
        for r in rows
    ]


def _overturns_by_model(f: DashboardFilters) -> list[Row]:
    c = _links(f)[1]
    version = f"case__{c.to_links}{'model_version__version' if f.raw else 'model'}"
    rows = (
        _reviews(f)
        .values(version=F(version))
        .annotate(
            reviewed=Count("id", distinct=True),
            overturned=Count("id", distinct=True, filter=OVERTURN),
        )
        .order_by()
    )
    return _by_version(rows, total="reviewed", part="overturned")


def _overturns_by_rule(f: DashboardFilters) -> list[Row]:
    names = _rule_names()
    if not names:
        return []
    counts = {}
    for i, name in enumerate(names):
        hit = _rule_q(f"case__{_links(f)[1].to_links}", name)
        counts[f"c{i}"] = Count("id", distinct=True, filter=hit)
        counts[f"o{i}"] = Count("id", distinct=True, filter=hit & OVERTURN)
    totals = _reviews(f).aggregate(**counts)
    return [
        [name, totals[f"c{i}"], totals[f"o{i}"], _ratio(totals[f"o{i}"], totals[f"c{i}"])]
        for i, name in enumerate(names)
        if totals[f"c{i}"]
    ]


_RATE = ("closed_cases", "fraud_confirmed", "precision")
_OVERTURN = ("reviewed", "overturned", "overturn_rate")
_TOP = ("transactions", "labelled", "fraud", "fraud_rate")

CHARTS: tuple[Chart, ...] = (
    Chart(
        "volume",
        "Transaction volume and flagged rate",
        "volume",
        ("day", "transactions", "scored", "flagged", "flagged_rate"),
        _volume,
        "Per day; flagged = scored high or critical; rate = flagged / scored.",
        _volume_raw,
        "rollup",
    ),
    Chart(
        "score_bands",
        "Risk-score distribution",
        "bar",
        ("band", "transactions"),
        _score_bands,
        "Scored transactions per band of ten points.",
        _score_bands_raw,
        "rollup",
    ),
    Chart(
        "case_flow",
        "Cases opened and closed per day",
        "flow",
        ("day", "opened", "closed"),
        _case_flow,
        raw=_raw(_case_flow),
    ),
    Chart(
        "backlog",
        "Open cases by priority and SLA state",
        "stacked",
        ("priority", *SLA_COLUMNS),
        _backlog,
        "Open now, whatever the date range.",
        raw=_raw(_backlog),
    ),
    Chart(
        "handling",
        "Median hours to first action and to closure",
        "grouped",
        ("priority", "cases_closed", "median_hours_to_first_action", "median_hours_to_close"),
        _handling,
        "Cases closed in the range, by priority.",
        raw=_raw(_handling),
    ),
    Chart(
        "money",
        "Amount at risk and confirmed as fraud",
        "money",
        ("currency", "at_risk_open", "open_cases", "confirmed_fraud", "fraud_cases"),
        _money_rows,
        "At risk: transactions of open cases now; confirmed: cases closed as fraud in the range.",
        raw=_raw(_money_rows),
    ),
    Chart(
        "dispositions",
        "Closed cases by disposition",
        "bar",
        ("disposition", "cases"),
        _dispositions,
        "Cases closed in the range.",
        raw=_raw(_dispositions),
    ),
    Chart(
        "open_at_risk",
        "Open cases with the most money at risk",
        "table",
        ("case", "account", "priority", "risk", "amount", "assignee"),
        _open_at_risk,
        raw=_raw(_open_at_risk),
    ),
    Chart(
        "precision_model",
        "Alert precision per model version",
        "rate",
        ("model_version", *_RATE),
        _precision_by_model,
        "Share of the range's closed cases confirmed as fraud.",
        raw=_raw(_precision_by_model),
    ),
    Chart(
        "precision_rule",
        "Alert precision per rule",
        "rate",
        ("rule", *_RATE),
        _precision_by_rule,
        "Closed cases with a transaction the rule fired on.",
        raw=_raw(_precision_by_rule),
    ),
    Chart(
        "top_merchants",
        "Top merchants by fraud rate",
        "rate",
        ("merchant", *_TOP),
        _top("merchant", "merchant_id"),
        "Fraud / labelled transactions; at least REPORTING_TOP_MIN_LABELLED labelled.",
        _top_raw("merchant_id"),
        "rollup",
    ),
    Chart(
        "top_categories",
        "Top categories by fraud rate",
        "rate",
        ("category", *_TOP),
        _top("category", "merchant_category"),
        raw=_top_raw("merchant_category"),
        source="rollup",
    ),
    Chart(
        "top_countries",
        "Top countries by fraud rate",
        "rate",
        ("country", *_TOP),
        _top("country", "country"),
        raw=_top_raw("country"),
        source="rollup",
    ),
    Chart(
        "heatmap",
        "Flagged transactions by weekday and hour",
        "heatmap",
        ("weekday", "hour", "flagged"),
        _heatmap,
        raw=_heatmap_raw,
        source="rollup",
    ),
    Chart(
        "map",
        "Where flagged transactions happened",
        "map",
        ("latitude", "longitude", "flagged"),
        _map,
        "Flagged transactions with coordinates, per 1° cell.",
        _map_raw,
        "rollup",
    ),
    Chart(
        "overturn_investigator",
        "Quality review: overturn rate per investigator",
        "rate",
        ("investigator", *_OVERTURN),
        _overturns_by_investigator,
        raw=_raw(_overturns_by_investigator),
    ),
    Chart(
        "overturn_model",
        "Quality review: overturn rate per model version",
        "rate",
        ("model_version", *_OVERTURN),
        _overturns_by_model,
        raw=_raw(_overturns_by_model),
    ),
    Chart(
        "overturn_rule",
        "Quality review: overturn rate per rule",
        "rate",
        ("rule", *_OVERTURN),
        _overturns_by_rule,
        raw=_raw(_overturns_by_rule),
    ),
)
CHARTS_BY_NAME: dict[str, Chart] = {c.name: c for c in CHARTS}


def data_version() -> dict[str, str]:
    """The versions the cached rows depend on, per :attr:`Chart.source`: ``rollup`` changes
    with every fold of the transaction rollups (folded first when due, see
    :func:`~fraudcases.reporting.rollup.rollup_version`); ``cases`` whenever a case changes
    (its facts are folded first when marked, see
    :func:`~fraudcases.reporting.rollup.case_facts_version`; every change is audited too) or
    the rollups fold. Three index lookups when nothing is due."""
    rolled = rollup_version()
    facts = case_facts_version()
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return {"rollup": rolled, "cases": f"{last_event or 0}.{facts}.{rolled}"}


def _key(chart: Chart, filters: DashboardFilters, version: dict[str, str]) -> str:
    return f"{filters.cache_key(chart.name)}:{version[chart.source]}"


def chart_rows(
    *, user, chart: Chart, filters: DashboardFilters, version: dict[str, str] | None = None
) -> list[Row] | None:
    """The chart's rows for the filters, cached ``REPORTING_CACHE_SECONDS`` (0: not cached)
    for the current :func:`data_version`; ``None`` when the user may not read the dashboard
    (fail closed)."""
    if not user_can(user, "dashboard.view"):
        return None
    version = version or data_version()
    seconds = settings.REPORTING_CACHE_SECONDS
    if seconds <= 0:
        return chart.compute(filters)
    key = _key(chart, filters, version)
    rows = cache.get(key)
    if rows is None:
        rows = chart.compute(filters)
        cache.set(key, rows, seconds)
    return rows


# Sorts and hashes of a cold dashboard (count-distinct per currency, medians over the range's
# closures) fit in memory instead of spilling to disk (PostgreSQL's default work_mem is 4 MB).
REPORTING_WORK_MEM = "32MB"


@contextmanager
def _reporting_memory(needed: bool):
    """A transaction with ``REPORTING_WORK_MEM`` for the grouped queries (PostgreSQL, and only
    when a chart is to be computed)."""
    if not needed or connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = %s", [REPORTING_WORK_MEM])
        yield


def dashboard_charts(*, user, filters: DashboardFilters) -> dict[str, dict[str, Any]] | None:
    """Every chart: ``{name: {"title", "kind", "columns", "rows", "description"}}``. The cached
    rows come in one round trip to the cache (``get_many``), the missing ones are computed
    and stored in another."""
    if not user_can(user, "dashboard.view"):
        return None
    version = data_version()
    seconds = settings.REPORTING_CACHE_SECONDS
    keys = {chart.name: _key(chart, filters, version) for chart in CHARTS}
    cached = cache.get_many(list(keys.values())) if seconds > 0 else {}
    computed = {}
    out = {}
    with _reporting_memory(len(cached) < len(CHARTS)):
        for chart in CHARTS:
            rows = cached.get(keys[chart.name])
            if rows is None:
                rows = computed[keys[chart.name]] = chart.compute(filters)
            out[chart.name] = {
                "title": chart.title,
                "kind": chart.kind,
                "columns": list(chart.columns),
                "rows": rows,
                "description": chart.description,
            }
    if computed and seconds > 0:
        cache.set_many(computed, seconds)
    return out


def filter_choices() -> dict[str, list[str]]:
    """Channels (from the detail rollup: a few hundred rows, not a distinct over every
    transaction) and the latest model versions, for the filter form's suggestions."""
    channels = (
        TransactionDayRollup.objects.filter(detail=True)
        .exclude(channel="")
        .order_by("channel")
        .values_list("channel", flat=True)
        .distinct()
    )
    models = ModelVersion.objects.order_by("-created_at").values_list("version", flat=True)
    return {"channels": list(channels), "models": list(models[:50])}


def dashboard_tiles(charts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Headline figures, derived from the charts' rows (no query of their own)."""
    backlog = charts["backlog"]["rows"]
    money = charts["money"]["rows"]
    dispositions = dict(charts["dispositions"]["rows"])
    volume = charts["volume"]["rows"]
    closed_cases = sum(r[2] for r in charts["case_flow"]["rows"])
    scored = sum(r[2] for r in volume)
    flagged = sum(r[3] for r in volume)
    handling = [r for r in charts["handling"]["rows"] if r[1]]
    reviews = charts["overturn_investigator"]["rows"]
    reviewed = sum(r[1] for r in reviews)
    return {
        "open_cases": sum(sum(r[1:]) for r in backlog),
        "sla_breached": sum(r[1] for r in backlog),
        "at_risk": [(r[0], r[1]) for r in money if r[2]],
        "confirmed": [(r[0], r[3]) for r in money if r[4]],
        "transactions": sum(r[1] for r in volume),
        "flagged_rate": _ratio(flagged, scored),
        "closed_cases": closed_cases,
        "precision": _ratio(dispositions.get(D.FRAUD_CONFIRMED, 0), sum(dispositions.values())),
        "handled": sum(r[1] for r in handling),
        "overturn_rate": _ratio(sum(r[2] for r in reviews), reviewed),
        "reviewed": reviewed,
    }
