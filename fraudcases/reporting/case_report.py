"""``/cases/<id>/report.pdf``: everything about one case, for a regulator, the police or a file.

Sections: summary, account, transactions with score and reasons, linked entities and cases,
notes (corrections and removals shown as such), attachments with their SHA-256, disposition and
approvals, quality reviews, and the case's audit trail with each event's chain position (``seq``,
id, MAC and previous MAC, key id) so the printed trail can be checked against the log later
(``manage.py verify_audit_log`` verifies the chain; an event is found again by its ``seq`` and
must carry the printed MAC). The view audits the download (``case.report``) with the PDF's
SHA-256.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent
from scoring.models import Transaction

from ..models import Case
from ..selectors import case_linked, case_timeline
from .pdf import Document

APPROVAL_ACTIONS = (
    "case.request_closure",
    "case.approve",
    "case.reject_closure",
    "case.close",
    "case.reopen",
    "qa.review",
)


@dataclass
class ReportInput:
    """What the report shows, read once (the view checks the user may read the case)."""

    case: Case
    transactions: list[Transaction]
    transactions_total: int
    events: list[AuditEvent]
    events_total: int
    linked: list
    generated_by: str
    generated_at: object


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else ""


def _user(u) -> str:
    return u.get_username() if u is not None else ""


def report_input(*, case: Case, user) -> ReportInput:
    limit = settings.REPORT_MAX_ROWS
    txns = (
        Transaction.objects.filter(case_link__case=case)
        .select_related("model_version")
        .order_by("occurred_at", "id")
    )
    events = case_timeline(user=user, case=case)
    return ReportInput(
        case=case,
        transactions=list(txns[:limit]),
        transactions_total=txns.count(),
        events=list(events[:limit]),
        events_total=events.count(),
        linked=case_linked(case=case),
        generated_by=user.get_username(),
        generated_at=timezone.now(),
    )


def _amounts(txns: list[Transaction]) -> str:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for t in txns:
        totals[t.currency] += t.amount
    return ", ".join(f"{amount:,.2f} {cur}" for cur, amount in sorted(totals.items())) or "—"


def _reasons(t: Transaction) -> str:
    parts = [str(r.get("detail") or r.get("code") or "") for r in (t.reasons or [])]
    return "; ".join(p for p in parts if p) or "—"


def build_case_report(*, case: Case, user) -> bytes:
    """The case report as PDF bytes."""
    data = report_input(case=case, user=user)
    c = data.case
    doc = Document(
        title=f"Case #{c.pk} report",
        subject=c.title,
        footer=f"fraudcases · case #{c.pk} · generated {_when(data.generated_at)} by "
        f"{data.generated_by} · confidential",
    )
    doc.h1(f"Case #{c.pk}: {c.title}")
    doc.para(
        f"Generated {_when(data.generated_at)} by {data.generated_by}. This download is "
        "recorded in the audit log (action case.report, with this file's SHA-256).",
        style="small",
    )

    doc.h2("Summary")
    tags = ", ".join(c.tags.values_list("name", flat=True))
    doc.fields(
        [
            ("Status", c.get_status_display()),
            ("Priority", c.get_priority_display()),
            ("Risk", f"{c.risk_score:.1f} ({c.get_risk_level_display()})"),
            ("Trigger", c.trigger),
            ("Opened", _when(c.created_at)),
            ("SLA due", _when(c.due_at)),
            ("Assignee", _user(c.assignee)),
            ("Escalated", _when(c.escalated_at)),
            ("Escalation reason", c.escalation_reason),
            ("Closed", _when(c.closed_at)),
            ("Disposition", c.get_disposition_display() if c.disposition else ""),
            ("Tags", tags),
        ]
    )

    doc.h2("Account")
    txns = data.transactions
    doc.fields(
        [
            ("Account", c.account_id),
            ("Transactions in the case", data.transactions_total),
            ("Amount in the case", _amounts(txns)),
            ("First transaction", _when(txns[0].occurred_at) if txns else ""),
            ("Last transaction", _when(txns[-1].occurred_at) if txns else ""),
            (
                "Other cases of the account",
                ", ".join(
                    f"#{lc.case.pk}" for lc in data.linked if f"account {c.account_id}" in lc.via
                ),
            ),
        ]
    )

    doc.h2("Transactions")
    if data.transactions_total > len(txns):
        doc.para(f"The first {len(txns)} of {data.transactions_total} are listed.", style="small")
    rows, spans = [], []
    for i, t in enumerate(txns):
        rows.append(
            [
                t.external_id,
                _when(t.occurred_at),
                f"{t.amount:,.2f} {t.currency}",
                " / ".join(x for x in (t.merchant_id, t.merchant_category) if x),
                " / ".join(x for x in (t.channel, t.country) if x),
                "" if t.risk_score is None else f"{t.risk_score:.1f} {t.risk_level}",
                t.model_version.version if t.model_version_id else "",
            ]
        )
        spans.append((i, f"Reasons: {_reasons(t)}"))
    doc.table(
        [
            "External id",
            "Time",
            "Amount",
            "Merchant / category",
            "Channel / country",
            "Score",
            "Model",
        ],
        rows,
        [16, 16, 12, 18, 11, 8, 12],
        spans=spans,
    )

    doc.h2("Linked entities and cases")
    entities: dict[str, set[str]] = defaultdict(set)
    for t in txns:
        for label, value in (
            ("Device", t.device_id),
            ("Merchant", t.merchant_id),
            ("Counterparty", t.counterparty_id),
            ("IP address", t.ip_address),
        ):
            if value:
                entities[label].add(str(value))
    doc.fields([(label, ", ".join(sorted(values))) for label, values in sorted(entities.items())])
    doc.space()
    doc.table(
        ["Case", "Status", "Account", "Linked by"],
        [
            [f"#{lc.case.pk}", lc.case.get_status_display(), lc.case.account_id, ", ".join(lc.via)]
            for lc in data.linked
        ],
        [8, 12, 20, 60],
        empty="No other case shares the account, a device, a merchant or a counterparty.",
    )

    doc.h2("Notes")
    notes = list(c.notes.select_related("author", "deleted_by", "corrects").order_by("created_at"))
    note_rows = []
    for n in notes:
        if n.is_deleted:
            body = f"[Removed {_when(n.deleted_at)} by {_user(n.deleted_by)}: {n.deletion_reason}]"
        else:
            body = n.body
        if n.corrects_id:
            body = f"(Correction of note {n.corrects_id}) {body}"
        note_rows.append([n.pk, _when(n.created_at), _user(n.author), body])
    doc.table(["Note", "Time", "Author", "Text"], note_rows, [6, 16, 12, 66], empty="No notes.")

    doc.h2("Attachments")
    files = list(c.attachments.select_related("uploaded_by", "deleted_by").order_by("created_at"))
    doc.table(
        ["File", "Type", "Bytes", "Uploaded", "SHA-256"],
        [
            [
                a.original_name
                + (
                    f" [removed {_when(a.deleted_at)}: {a.deletion_reason}]" if a.is_deleted else ""
                ),
                a.content_type,
                f"{a.size:,}",
                f"{_when(a.created_at)} by {_user(a.uploaded_by)}",
                a.sha256,
            ]
            for a in files
        ],
        [22, 12, 8, 20, 38],
        mono_columns=(4,),
        empty="No attachments.",
    )

    doc.h2("Disposition and approvals")
    decisions = [e for e in data.events if e.action in APPROVAL_ACTIONS]
    doc.table(
        ["Time", "Who", "Action", "Note"],
        [[_when(e.created_at), e.actor_label, e.action, e.note] for e in decisions],
        [18, 14, 21, 47],
        empty="No closure, approval or reopening yet.",
    )
    reviews = list(c.qa_reviews.select_related("reviewer").order_by("sampled_at"))
    if reviews:
        doc.space()
        doc.table(
            ["Quality review", "Closure", "Verdict", "Reviewer", "Comment"],
            [
                [
                    f"#{r.pk} ({r.get_sample_reason_display()})",
                    f"{_when(r.closed_at)} {r.get_disposition_display()}",
                    r.get_verdict_display() if r.verdict else "pending",
                    _user(r.reviewer),
                    r.comment,
                ]
                for r in reviews
            ],
            [18, 24, 10, 12, 36],
        )

    doc.h2("Audit trail")
    doc.para(
        "Each event with its position in the tamper-evident audit chain: seq (position), "
        "database id, HMAC-SHA256 of the event (under the named key) and the MAC of the event "
        "before it. `manage.py verify_audit_log` verifies the whole chain; the event at this "
        "seq must carry this MAC.",
        style="small",
    )
    if data.events_total > len(data.events):
        doc.para(f"The first {len(data.events)} of {data.events_total} are listed.", style="small")
    rows, spans = [], []
    for i, e in enumerate(data.events):
        rows.append([e.seq, e.pk, _when(e.created_at), e.actor_label, e.action, e.note])
        spans.append((i, f"MAC {e.hash} (key {e.key_id}) · previous {e.prev_hash}"))
    doc.table(
        ["Seq", "Id", "Time", "Actor", "Action", "Note"],
        rows,
        [6, 6, 17, 15, 21, 35],
        spans=spans,
        empty="No audit events.",
    )
    return doc.render()
