"""Template helpers of the case workspace: permissions, markdown, SLA countdown (the case page's
charts: ``case_page``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from typing import Any

import markdown as markdown_lib
import nh3
from django import template
from django.utils import timezone
from django.utils.html import escape
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
