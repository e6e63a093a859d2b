"""The case page's charts, server-rendered SVG: the account's history and the case's burst.

Both are scatter plots of amount (log scale, labelled with the currency) over time (labelled with
the display time zone). Dots that would cover each other are nudged sideways, a beeswarm: a
card-testing burst of 17 charges within minutes shows as 17 dots, not one. When the case's own
transactions fall in a sliver of the month, a second strip plot spreads them over their own
minutes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from fraudcases.reporting.dashboard import FLAGGED_LEVELS

register = template.Library()

# Draw the burst strip when the case's transactions span at most this share of the history.
BURST_SHARE = 0.05
MIN_BURST_POINTS = 3


@dataclass(frozen=True)
class Dot:
    """One transaction on a chart: time (epoch seconds), amount, CSS class, radius, tooltip."""

    ts: float
    amount: float
    css: str
    radius: float
    tip: str


@dataclass(frozen=True)
class Frame:
    """The plot's size and the padding that holds the axes' ticks and labels."""

    width: int = 1100
    height: int = 220
    left: int = 74
    right: int = 14
    top: int = 10
    bottom: int = 44


def log_ticks(low: float, high: float) -> list[float]:
    """Round amounts (1, 10, 100 …; with 2 and 5 when the range is short) between low and high."""
    ticks = [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    inside = [t for t in ticks if low <= t <= high]
    if len(inside) < 3:
        inside = sorted(t * m for t in ticks for m in (1, 2, 5) if low <= t * m <= high)
    return inside or [low, high]


def _amount_text(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


# Tick steps for the time axis (seconds): the smallest that gives at most MAX_TIME_TICKS ticks.
_MINUTE, _HOUR, _DAY = 60, 3600, 86_400
TIME_STEPS = tuple(
    [1, 2, 5, 10, 15, 30]
    + [_MINUTE * m for m in (1, 2, 5, 10, 15, 30)]
    + [_HOUR * h for h in (1, 2, 3, 6, 12)]
    + [_DAY * d for d in (1, 2, 7, 14, 28)]
)
MAX_TIME_TICKS = 6


def time_ticks(t0: float, t1: float, offset: float = 0.0) -> list[float]:
    """Round times between t0 and t1 (epoch seconds): whole minutes, hours or local days;
    ``offset`` is the display zone's UTC offset in seconds, so "00:00" is local midnight."""
    span = t1 - t0
    step = next((s for s in TIME_STEPS if span / s <= MAX_TIME_TICKS), TIME_STEPS[-1])
    first = math.ceil((t0 + offset) / step) * step - offset
    return [first + k * step for k in range(int((t1 - first) // step) + 1)]


def _time_format(span: float) -> str:
    if span > 2 * 86_400:
        return "%m-%d"
    if span > 2 * 3600:
        return "%m-%d %H:%M"
    return "%H:%M:%S"


def dodge(
    xs: Sequence[float], ys: Sequence[float], radius: float, lo: float, hi: float
) -> list[float]:
    """x positions so that no two dots of ``radius`` overlap: each dot, in time order, takes the
    free position nearest its true x (a beeswarm); y never moves, x stays within [lo, hi]."""
    gap = 2 * radius + 1
    placed: list[tuple[float, float]] = []
    out = [0.0] * len(xs)
    for i in sorted(range(len(xs)), key=lambda k: xs[k]):
        x, y = xs[i], ys[i]
        near = [(px, py) for px, py in placed if abs(py - y) < gap]
        candidates = [x] + [x + s * step * gap for step in range(1, 60) for s in (1, -1)]
        for cand in candidates:
            if lo <= cand <= hi and all(math.hypot(cand - px, y - py) >= gap for px, py in near):
                x = cand
                break
        placed.append((x, y))
        out[i] = x
    return out


def _currency_label(currencies: set[str]) -> str:
    named = sorted(c for c in currencies if c) or ["no currency"]
    if len(named) == 1:
        return f"Amount ({named[0]}, log scale)"
    return f"Amount ({', '.join(named)}; log scale)"


def scatter_svg(
    dots: Sequence[Dot], *, title: str, currencies: set[str], frame: Frame, css: str
) -> SafeString:
    """The SVG of a time × amount scatter with labelled axes, ticks and dodged dots."""
    f = frame
    t0, t1 = min(d.ts for d in dots), max(d.ts for d in dots)
    span = max(t1 - t0, 60.0)
    t0, t1 = t0 - span * 0.03, t0 + span * 1.03
    amounts = [max(d.amount, 0.01) for d in dots]
    lo, hi = math.log10(min(amounts)), math.log10(max(amounts))
    if hi - lo < 0.5:
        lo, hi = lo - 0.25, hi + 0.25
    lo, hi = lo - (hi - lo) * 0.06, hi + (hi - lo) * 0.06
    plot_w, plot_h = f.width - f.left - f.right, f.height - f.top - f.bottom

    def x(ts: float) -> float:
        return f.left + (ts - t0) / (t1 - t0) * plot_w

    def y(amount: float) -> float:
        return f.top + (hi - math.log10(amount)) / (hi - lo) * plot_h

    def y_tick(value: float) -> tuple:
        at = y(value)
        return (f.left, f.left + plot_w, f"{at:.1f}", f"{at:.1f}", f.left - 5, f"{at + 3.5:.1f}")

    ys = [y(a) for a in amounts]
    xs = dodge([x(d.ts) for d in dots], ys, max(d.radius for d in dots), f.left, f.left + plot_w)
    zone = timezone.get_current_timezone()
    fmt = _time_format(t1 - t0)
    offset = datetime.fromtimestamp(t0, zone).utcoffset()
    ticks = time_ticks(t0, t1, offset.total_seconds() if offset else 0.0)
    parts = [
        format_html(
            '<svg class="chart {}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
            "<title>{}</title>",
            css,
            f.width,
            f.height,
            title,
            title,
        ),
        format_html(
            '<path class="axis" d="M{} {}V{}H{}"/>',
            f.left,
            f.top,
            f.top + plot_h,
            f.left + plot_w,
        ),
        format_html_join(
            "",
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
            ((*y_tick(v), _amount_text(v)) for v in log_ticks(10**lo, 10**hi)),
        ),
        format_html_join(
            "",
            '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
            (
                (
                    f"{x(ts):.1f}",
                    f.top + plot_h + 14,
                    datetime.fromtimestamp(ts, zone).strftime(fmt),
                )
                for ts in ticks
            ),
        ),
        format_html(
            '<text class="axis-label x-label" x="{}" y="{}" text-anchor="middle">Time ({})</text>',
            f.left + plot_w / 2,
            f.height - 6,
            timezone.get_current_timezone_name(),
        ),
        format_html(
            '<text class="axis-label y-label" transform="translate(14 {}) rotate(-90)" '
            'text-anchor="middle">{}</text>',
            f"{f.top + plot_h / 2:.1f}",
            _currency_label(currencies),
        ),
        format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="{}" class="{}"><title>{}</title></circle>',
            (
                (f"{cx:.1f}", f"{cy:.1f}", d.radius, d.css, d.tip)
                for d, cx, cy in zip(dots, xs, ys, strict=True)
            ),
        ),
        mark_safe("</svg>"),
    ]
    return mark_safe("".join(str(p) for p in parts))


def _tip(txn) -> str:
    score = "" if txn.risk_score is None else f", risk {txn.risk_score:.1f}"
    when = timezone.localtime(txn.occurred_at)
    return (
        f"{when:%Y-%m-%d %H:%M:%S} · {txn.amount} {txn.currency} · "
        f"{txn.merchant_id or 'no merchant'}{score}"
    )


def _dated(transactions: Iterable) -> list:
    return [t for t in transactions if t.occurred_at is not None]


@register.simple_tag
def history_chart(transactions) -> SafeString:
    """The account's month: red dots are on this case, orange ones scored high elsewhere."""
    points = _dated(transactions)
    if not points:
        return mark_safe('<p class="muted">No recent history for this account.</p>')
    dots = []
    for txn in points:
        on_case = getattr(txn, "on_this_case", False)
        risky = txn.risk_level in FLAGGED_LEVELS
        css = "pt-case" if on_case else ("pt-risky" if risky else "pt")
        dots.append(
            Dot(
                txn.occurred_at.timestamp(),
                float(txn.amount),
                css,
                4.5 if on_case else 3,
                _tip(txn),
            )
        )
    return scatter_svg(
        dots,
        title=f"Account history: amount over time, {len(points)} transactions",
        currencies={t.currency for t in points},
        frame=Frame(),
        css="history",
    )


def burst_span(transactions, history) -> tuple[datetime, datetime] | None:
    """(first, last) time of the case's transactions when they are a burst: at least three,
    squeezed into at most ``BURST_SHARE`` of the history's time span; otherwise ``None``."""
    case_times = [t.occurred_at for t in _dated(transactions)]
    all_times = [t.occurred_at for t in _dated(history)] + case_times
    if len(case_times) < MIN_BURST_POINTS:
        return None
    whole = (max(all_times) - min(all_times)).total_seconds()
    own = (max(case_times) - min(case_times)).total_seconds()
    if whole <= 0 or own > whole * BURST_SHARE:
        return None
    return min(case_times), max(case_times)


@register.simple_tag
def burst_chart(transactions, history) -> SafeString:
    """A strip of the case's own transactions over their own minutes (flagged ones red), drawn
    only when ``burst_span`` finds them squeezed into a sliver of the history chart."""
    span = burst_span(transactions, history)
    if span is None:
        return mark_safe("")
    points = _dated(transactions)
    first, last = (timezone.localtime(t) for t in span)
    minutes = max(1, round((last - first).total_seconds() / 60))
    dots = [
        Dot(
            t.occurred_at.timestamp(),
            float(t.amount),
            "bt-flagged" if t.risk_level in FLAGGED_LEVELS else "bt",
            4.5,
            _tip(t),
        )
        for t in points
    ]
    title = (
        f"This case's {len(points)} transactions, {first:%Y-%m-%d %H:%M:%S}–{last:%H:%M:%S} "
        f"({minutes} min)"
    )
    svg = scatter_svg(
        dots,
        title=title,
        currencies={t.currency for t in points},
        frame=Frame(height=180),
        css="burst",
    )
    return format_html('<h3 class="chart-title" id="burst-title">{}</h3>{}', title, svg)
