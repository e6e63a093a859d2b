"""Template helpers of the case workspace: permissions, markdown, SLA countdown, the SVG chart."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from typing import Any

import markdown as markdown_lib
import nh3
from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from core.permissions import user_can
from scoring.engine.explain import reason_label

register = template.Library()

ALLOWED_TAGS = [
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4",
    "table", "thead", "tbody", "tr", "th", "td", "hr",
]  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": ["href", "title"]}


@register.filter
def can(user, action: str) -> bool:
    """``{% if user|can:"case.reopen" %}`` — the one permission function, in templates."""
    return user_can(user, action)


# A bare http(s) address in plain text; \x02/\x03 delimit Markdown's placeholders for raw HTML.
_BARE_URL = re.compile(r"\bhttps?://[^\s<>\"'`\x02\x03]+[^\s<>\"'`.,;:!?)\]\x02\x03]")


class _LinkifyTreeprocessor(markdown_lib.treeprocessors.Treeprocessor):
    """Bare addresses in the rendered text become links, as bleach.linkify did: after inline
    Markdown (emphasis, links, code), never inside a link, code or a code block."""

    SKIP = frozenset({"a", "code", "pre"})

    def run(self, root):
        self._walk(root)

    def _walk(self, parent) -> None:
        for index, child in reversed(list(enumerate(parent))):
            if child.tag not in self.SKIP:
                self._walk(child)
            child.tail, links = self._split(child.tail)
            for offset, link in enumerate(links, start=1):
                parent.insert(index + offset, link)
        parent.text, links = self._split(parent.text)
        for offset, link in enumerate(links):
            parent.insert(offset, link)

    @staticmethod
    def _split(text: str | None) -> tuple[str | None, list]:
        if not text:
            return text, []
        links: list = []
        head, last = text, 0
        for match in _BARE_URL.finditer(text):
            if links:
                links[-1].tail = text[last : match.start()]
            else:
                head = text[: match.start()]
            link = ElementTree.Element("a", {"href": match.group(0)})
            link.text = match.group(0)
            links.append(link)
            last = match.end()
        if links:
            links[-1].tail = text[last:]
        return head, links


class _LinkifyExtension(markdown_lib.Extension):
    def extendMarkdown(self, md):
        # After the inline processor (20), before prettify (10).
        md.treeprocessors.register(_LinkifyTreeprocessor(md), "linkify", 15)


@register.filter(name="markdown")
def render_markdown(text: str) -> SafeString:
    """Markdown rendered to HTML and sanitised by nh3 (no raw HTML, scripts or event handlers).

    Only the tags and attributes below survive; links keep http/https/mailto targets only and get
    ``rel="nofollow noopener"``; bare addresses are linked by the tree processor above.
    """
    html = markdown_lib.markdown(
        text or "", extensions=["fenced_code", "tables", "sane_lists", _LinkifyExtension()]
    )
    clean = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener",
    )
    return mark_safe(clean)


register.filter("reason_label", reason_label)


@register.filter
def reason_summary(case) -> str:
    """The distinct reason codes across the case's transactions, in plain words."""
    seen: list[str] = []
    for txn in case.transactions.all():
        for reason in txn.reasons or []:
            label = reason_label(reason.get("code", ""))
            if label and label not in seen:
                seen.append(label)
    return ", ".join(seen[:4])


def _duration(seconds: float) -> str:
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m"


@register.filter
def sla_countdown(case) -> str:
    """``3 h 12 m left`` or ``overdue by 2 h 5 m`` for open cases; empty otherwise."""
    if not case.is_open or case.due_at is None:
        return ""
    left = (case.due_at - timezone.now()).total_seconds()
    if left <= 0:
        return f"overdue by {_duration(left)}"
    return f"{_duration(left)} left"


@register.filter
def age(value: datetime | None) -> str:
    if value is None:
        return ""
    return _duration((timezone.now() - value).total_seconds())


@register.filter
def audit_changes(event) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for the fields an audit event changed, or its ``after`` alone."""
    before, after = event.before or {}, event.after or {}
    if not before:
        return [(key, None, value) for key, value in sorted(after.items())]
    keys = sorted(set(before) | set(after))
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def history_chart(transactions, width: int = 760, height: int = 180) -> SafeString:
    """A small server-rendered SVG timeline: amount (log scale) over time; risky ones marked.

    Red dots are transactions linked to the case, orange ones scored high or critical elsewhere.
    """
    points = [t for t in transactions if t.occurred_at is not None]
    if not points:
        return mark_safe('<p class="muted">No recent history for this account.</p>')
    pad_l, pad_r, pad_t, pad_b = 56, 12, 10, 26
    t0 = min(t.occurred_at for t in points).timestamp()
    t1 = max(t.occurred_at for t in points).timestamp()
    if t1 - t0 < 3600:  # a burst within an hour: widen around it so points do not pile up
        middle = (t0 + t1) / 2
        t0, t1 = middle - 1800, middle + 1800
    span = t1 - t0
    amounts = [max(float(t.amount), 0.01) for t in points]
    low_amount, high_amount = min(amounts), max(amounts)
    lo, hi = math.log10(low_amount), math.log10(high_amount)
    if hi - lo < 0.5:
        lo, hi = lo - 0.25, hi + 0.25

    def x(ts: float) -> float:
        return pad_l + (ts - t0) / span * (width - pad_l - pad_r)

    def y(amount: float) -> float:
        return pad_t + (hi - math.log10(amount)) / (hi - lo) * (height - pad_t - pad_b)

    parts = [
        format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="chart-title">'
            '<title id="chart-title">Account history: amount over time, {} transactions</title>',
            width,
            height,
            len(points),
        ),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>',
            pad_l,
            height - pad_b,
            width - pad_r,
            height - pad_b,
        ),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>',
            pad_l,
            pad_t,
            pad_l,
            height - pad_b,
        ),
    ]
    for value in sorted({low_amount, high_amount}):
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
                pad_l - 4,
                f"{y(value) + 4:.1f}",
                f"{value:,.0f}",
            )
        )
    for ts, anchor in ((t0, "start"), (t1, "end")):
        stamp = datetime.fromtimestamp(ts, tz=timezone.get_current_timezone())
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="{}">{}</text>',
                f"{x(ts):.1f}",
                height - 8,
                anchor,
                stamp.strftime("%Y-%m-%d %H:%M"),
            )
        )
    for txn, amount in zip(points, amounts, strict=True):
        on_case = getattr(txn, "on_this_case", False)
        risky = txn.risk_level in ("high", "critical")
        css = "pt-case" if on_case else ("pt-risky" if risky else "pt")
        score = "" if txn.risk_score is None else f", risk {txn.risk_score:.1f}"
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="{}" class="{}"><title>{}</title></circle>',
                f"{x(txn.occurred_at.timestamp()):.1f}",
                f"{y(amount):.1f}",
                5 if on_case or risky else 3,
                css,
                f"{txn.occurred_at:%Y-%m-%d %H:%M} · {txn.amount} {txn.currency} · "
                f"{txn.merchant_id or 'no merchant'}{score}",
            )
        )
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(p) for p in parts))


@register.simple_tag(takes_context=True)
def querystring_with(context, **changes) -> str:
    """The current query string with some parameters replaced (``None``/"" removes them)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return escape("?" + encoded if encoded else "?")
