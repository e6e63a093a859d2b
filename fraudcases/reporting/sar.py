"""The suspicious-activity export (SAR / STR): structured JSON, and the same as a filled PDF.

:func:`sar_draft` gathers what a narrative needs from the case (subject, activity period,
amounts, instruments, indicators) and drafts a narrative from the reasons and notes; the
investigator edits the narrative before :func:`sar_document` produces the export. The field
names are ours; docs/reporting.md says which fields of FinCEN's SAR and the UK NCA's SAR each
one fills. This is a preparation aid: filing is done by the institution's reporting officer in
the regulator's own system.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from scoring.models import Transaction

from ..models import Case
from ..selectors import case_linked
from .pdf import Document

SCHEMA = "fraudcases.sar/v1"
NARRATIVE_MAX = 20_000


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _transactions(case: Case) -> list[Transaction]:
    return list(
        Transaction.objects.filter(case_link__case=case)
        .select_related("model_version")
        .order_by("occurred_at", "id")[: settings.REPORT_MAX_ROWS]
    )


def _narrative(case: Case, txns: list[Transaction], indicators: list[str], totals: dict) -> str:
    if txns:
        period = (
            f"Between {timezone.localtime(txns[0].occurred_at):%d %B %Y} and "
            f"{timezone.localtime(txns[-1].occurred_at):%d %B %Y}"
        )
    else:
        period = "In the period reviewed"
    amounts = ", ".join(f"{v} {k}" for k, v in totals.items()) or "no amount"
    peak = max((t.risk_score or 0 for t in txns), default=case.risk_score)
    lines = [
        f"{period}, account {case.account_id} made {len(txns)} transaction(s) totalling "
        f"{amounts} that our transaction monitoring flagged as suspicious (risk score up to "
        f"{peak:.1f} of 100).",
    ]
    if indicators:
        lines.append("Indicators: " + "; ".join(indicators[:8]) + ".")
    lines.append(
        f"The activity was investigated as case #{case.pk}"
        + (
            f", closed as {case.get_disposition_display().lower()}"
            if case.disposition
            else f" (status: {case.get_status_display().lower()})"
        )
        + "."
    )
    notes = [
        n.body.strip()
        for n in case.notes.filter(deleted_at__isnull=True).order_by("created_at")
        if n.body.strip()
    ]
    if notes:
        lines.append("Investigator's findings:")
        lines.extend(f"- {body[:600]}" for body in notes[:10])
    lines.append("[Investigator: complete who, what, when, where, why and how before export.]")
    return "\n".join(lines)


def sar_draft(*, case: Case) -> dict[str, Any]:
    """The export's fields with a drafted narrative (the caller checked ``case.sar_export``)."""
    txns = _transactions(case)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    instruments: dict[tuple[str, str, str], list] = {}
    indicators: Counter[str] = Counter()
    subject: dict[str, set[str]] = defaultdict(set)
    for t in txns:
        totals[t.currency] += t.amount
        key = (t.channel or "unknown", t.merchant_category or "unknown", t.currency)
        entry = instruments.setdefault(key, [0, Decimal(0)])
        entry[0] += 1
        entry[1] += t.amount
        for r in t.reasons or []:
            if r.get("detail"):
                indicators[str(r["detail"])] += 1
        for name, value in (
            ("devices", t.device_id),
            ("ip_addresses", t.ip_address),
            ("counterparties", t.counterparty_id),
            ("countries", t.country),
            ("merchants", t.merchant_id),
        ):
            if value:
                subject[name].add(str(value))
    totals_text = {cur: f"{amount:.2f}" for cur, amount in sorted(totals.items())}
    ordered_indicators = [text for text, _ in indicators.most_common()]
    return {
        "schema": SCHEMA,
        "filing_institution": settings.REPORT_INSTITUTION_NAME,
        "case": {
            "id": case.pk,
            "title": case.title,
            "status": case.status,
            "disposition": case.disposition,
            "priority": case.priority,
            "risk_score": case.risk_score,
            "opened_at": _iso(case.created_at),
            "closed_at": _iso(case.closed_at),
        },
        "subject": {
            "account_id": case.account_id,
            **{name: sorted(values) for name, values in sorted(subject.items())},
        },
        "activity": {
            "start": _iso(txns[0].occurred_at) if txns else None,
            "end": _iso(txns[-1].occurred_at) if txns else None,
            "transaction_count": len(txns),
            "total_amount": totals_text,
        },
        "instruments": [
            {
                "channel": channel,
                "merchant_category": category,
                "currency": currency,
                "transactions": count,
                "amount": f"{amount:.2f}",
            }
            for (channel, category, currency), (count, amount) in sorted(instruments.items())
        ],
        "indicators": ordered_indicators,
        "transactions": [
            {
                "external_id": t.external_id,
                "occurred_at": _iso(t.occurred_at),
                "amount": f"{t.amount:.2f}",
                "currency": t.currency,
                "merchant_id": t.merchant_id,
                "merchant_category": t.merchant_category,
                "channel": t.channel,
                "country": t.country,
                "risk_score": t.risk_score,
                "model_version": t.model_version.version if t.model_version_id else None,
                "reasons": [r.get("detail") or r.get("code") for r in (t.reasons or [])],
            }
            for t in txns
        ],
        "related_cases": [lc.case.pk for lc in case_linked(case=case)],
        "investigation": {
            "assignee": case.assignee.get_username() if case.assignee_id else None,
            "closed_by": case.closed_by.get_username() if case.closed_by_id else None,
        },
        "narrative": _narrative(case, txns, ordered_indicators, totals_text),
    }


def sar_document(*, draft: dict[str, Any], narrative: str, user) -> dict[str, Any]:
    """The export: the draft with the investigator's narrative, who exported it and when."""
    return draft | {
        "narrative": narrative,
        "narrative_edited": narrative.strip() != draft["narrative"].strip(),
        "prepared_by": user.get_username(),
        "prepared_at": timezone.now().isoformat(),
    }


def sar_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False).encode()


def _shown(iso: str | None) -> str:
    """An ISO time as printed on the form: to the second."""
    return iso[:19].replace("T", " ") + " UTC" if iso else "—"


def sar_pdf(document: dict[str, Any]) -> bytes:
    """The same export as a filled PDF form."""
    case, subject, activity = document["case"], document["subject"], document["activity"]
    doc = Document(
        title=f"Suspicious activity report — case #{case['id']}",
        subject="Suspicious activity report (draft for filing)",
        footer=f"fraudcases · SAR draft for case #{case['id']} · prepared "
        f"{document['prepared_at']} by {document['prepared_by']} · confidential",
    )
    doc.h1(f"Suspicious activity report — case #{case['id']}")
    doc.para(
        "Prepared for the reporting officer; file it in the regulator's system "
        f"({SCHEMA}; field mapping in docs/reporting.md).",
        style="small",
    )
    doc.h2("1. Filing institution")
    doc.fields([("Institution", document["filing_institution"] or "(set REPORT_INSTITUTION_NAME)")])
    doc.h2("2. Subject")
    doc.fields(
        [("Account", subject["account_id"])]
        + [
            (name.replace("_", " ").capitalize(), ", ".join(values))
            for name, values in subject.items()
            if name != "account_id"
        ]
    )
    doc.h2("3. Suspicious activity")
    totals = ", ".join(f"{v} {k}" for k, v in activity["total_amount"].items())
    doc.fields(
        [
            ("Activity from", _shown(activity["start"])),
            ("Activity to", _shown(activity["end"])),
            ("Transactions", activity["transaction_count"]),
            ("Amount involved", totals),
            ("Indicators", "; ".join(document["indicators"])),
            (
                "Case",
                f"#{case['id']} {case['title']} ({case['status']}, {case['disposition'] or '—'})",
            ),
            ("Related cases", ", ".join(f"#{i}" for i in document["related_cases"])),
        ]
    )
    doc.h2("4. Instruments")
    doc.table(
        ["Channel", "Category", "Currency", "Transactions", "Amount"],
        [
            [i["channel"], i["merchant_category"], i["currency"], i["transactions"], i["amount"]]
            for i in document["instruments"]
        ],
        [20, 30, 12, 16, 22],
    )
    doc.h2("5. Transactions")
    doc.table(
        ["External id", "Time", "Amount", "Merchant", "Country", "Score"],
        [
            [
                t["external_id"],
                _shown(t["occurred_at"]),
                f"{t['amount']} {t['currency']}",
                t["merchant_id"],
                t["country"],
                t["risk_score"],
            ]
            for t in document["transactions"]
        ],
        [20, 26, 16, 18, 10, 10],
    )
    doc.h2("6. Narrative")
    doc.para(document["narrative"])
    doc.space(8)
    doc.fields(
        [
            ("Prepared by", document["prepared_by"]),
            ("Prepared at", document["prepared_at"]),
            ("Narrative edited", "yes" if document["narrative_edited"] else "no (as drafted)"),
        ]
    )
    return doc.render()
