"""The dashboard's filters: date range, channel, country, risk level, model version.

They travel in the URL (``?from=2026-11-01&to=2026-11-30&channel=web&country=GB&risk=high
&model=v3``), so a filtered dashboard can be shared as a link; the chart data and CSV endpoints
take the same parameters.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from scoring.models import RiskLevel, Transaction

from ..models import Case, CaseTransaction
from ..rollup_models import CaseLinkFact

_COUNTRY = re.compile(r"[A-Z]{2}")
_TOKEN = re.compile(r"[\w.:@/+-]{1,64}")


class DashboardFilterForm(forms.Form):
    """The filters as the URL names them (``from``, ``to``, ``channel``, ``country``, ``risk``,
    ``model``); every one is optional."""

    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    channel = forms.CharField(required=False, max_length=32, label="Channel")
    country = forms.CharField(required=False, max_length=2, label="Country")
    risk = forms.ChoiceField(
        required=False, choices=[("", "All levels"), *RiskLevel.choices], label="Risk level"
    )
    model = forms.CharField(required=False, max_length=64, label="Model version")

    URL_NAMES = {"date_from": "from", "date_to": "to"}

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["date_from"].widget.input_type = "date"
        self.fields["date_to"].widget.input_type = "date"

    def add_prefix(self, field_name):
        # The URL's parameter names (``from`` / ``to`` for the dates).
        return self.URL_NAMES.get(field_name, field_name)

    def errors_by_param(self) -> dict[str, list[str]]:
        """The errors keyed by the URL parameter they are about (``to``, not ``date_to``)."""
        return {
            self.URL_NAMES.get(name, name): [str(e) for e in errors]
            for name, errors in self.errors.items()
        }

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and not _COUNTRY.fullmatch(value):
            raise forms.ValidationError("Two letters (ISO 3166 alpha-2), e.g. GB.")
        return value

    def clean_channel(self) -> str:
        return self._token("channel")

    def clean_model(self) -> str:
        return self._token("model")

    def _token(self, name: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        if value and not _TOKEN.fullmatch(value):
            raise forms.ValidationError("Letters, digits and . : @ / + - _ only.")
        return value

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the range is before its start.")
        elif start and end and (end - start).days + 1 > settings.REPORTING_MAX_DAYS:
            self.add_error("date_to", f"At most {settings.REPORTING_MAX_DAYS} days.")
        return data


@dataclass(frozen=True)
class DashboardFilters:
    """Validated filters. ``start`` / ``end``: the first and last day shown (inclusive)."""

    start: date
    end: date
    channel: str = ""
    country: str = ""
    risk: str = ""
    model: str = ""
    # Case filters through the raw links and transactions instead of the case link facts (the
    # raw path the tests compare the fast one with); not a filter of its own.
    raw: bool = False

    @property
    def since(self) -> datetime:
        """The range's first instant (midnight starting ``start``, in the display time zone)."""
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        """The instant after the range (exclusive upper bound)."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def query_string(self) -> str:
        """The filters as URL parameters (only those set)."""
        params = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "channel": self.channel,
            "country": self.country,
            "risk": self.risk,
            "model": self.model,
        }
        return urlencode({k: v for k, v in params.items() if v})

    def cache_key(self, chart: str) -> str:
        digest = hashlib.sha256(self.query_string().encode()).hexdigest()[:24]
        return f"fc:dashboard:v1:{chart}:{digest}"

    @property
    def transaction_filtered(self) -> bool:
        """True when a filter on transaction attributes applies to the case charts."""
        return bool(self.channel or self.country or self.model)

    def transactions(self, qs: QuerySet[Transaction] | None = None) -> QuerySet[Transaction]:
        """Transactions that happened in the range and match every filter."""
        qs = (qs if qs is not None else Transaction.objects.all()).filter(
            occurred_at__gte=self.since, occurred_at__lt=self.until
        )
        return self._attributes(qs, prefix="")

    def _attributes(self, qs: QuerySet, *, prefix: str) -> QuerySet:
        lookups = {}
        if self.channel:
            lookups[f"{prefix}channel"] = self.channel
        if self.country:
            lookups[f"{prefix}country"] = self.country
        if self.risk and not prefix:
            lookups["risk_level"] = self.risk
        if self.model:
            lookups[f"{prefix}model_version__version"] = self.model
        return qs.filter(**lookups).order_by()

    def cases(self, qs: QuerySet[Case], *, date_field: str | None = "created_at") -> QuerySet:
        """Cases matching the filters: ``date_field`` in the range (None: any time), the case's
        risk level, and (channel, country, model) at least one linked transaction that matches."""
        if date_field:
            qs = qs.filter(**{f"{date_field}__gte": self.since, f"{date_field}__lt": self.until})
        if self.risk:
            qs = qs.filter(risk_level=self.risk)
        if self.transaction_filtered:
            qs = qs.filter(self._linked(OuterRef("pk")))
        return qs.order_by()

    def _linked(self, case_ref: OuterRef) -> Exists:
        """At least one of the case's transactions matches the channel, country and model."""
        if self.raw:
            return Exists(
                self._attributes(
                    CaseTransaction.objects.filter(case=case_ref), prefix="transaction__"
                )
            )
        lookups = {"channel": self.channel, "country": self.country, "model": self.model}
        return Exists(
            CaseLinkFact.objects.filter(case=case_ref, **{k: v for k, v in lookups.items() if v})
        )

    def case_q(self, *, case_path: str, risk_path: str | None = None) -> Q:
        """The case filters (risk, linked transactions) as a Q on a model related to cases
        (``risk_path``: where that model finds the case's risk level, if not through the case)."""
        q = Q()
        if self.risk:
            q &= Q(**{risk_path or f"{case_path}__risk_level": self.risk})
        if self.transaction_filtered:
            q &= Q(self._linked(OuterRef(case_path)))
        return q


def default_filters(today: date | None = None) -> DashboardFilters:
    today = today or timezone.localdate()
    return DashboardFilters(
        start=today - timedelta(days=settings.REPORTING_DEFAULT_DAYS - 1), end=today
    )


def parse_filters(data) -> tuple[DashboardFilters, DashboardFilterForm]:
    """Filters from the URL's parameters. With errors the form says what is wrong and the
    filters are the defaults (the caller answers 400)."""
    form = DashboardFilterForm(data)
    default = default_filters()
    if not form.is_valid():
        return default, form
    d = form.cleaned_data
    start, end = d.get("date_from"), d.get("date_to")
    if start and not end:
        end = min(start + timedelta(days=settings.REPORTING_DEFAULT_DAYS - 1), default.end)
        end = max(end, start)
    elif end and not start:
        start = end - timedelta(days=settings.REPORTING_DEFAULT_DAYS - 1)
    filters = DashboardFilters(
        start=start or default.start,
        end=end or default.end,
        channel=d.get("channel") or "",
        country=d.get("country") or "",
        risk=d.get("risk") or "",
        model=d.get("model") or "",
    )
    return filters, form
