"""Thirty days of case history for the demo, so every dashboard chart has data on first start.

How the history is produced (read this before trusting a demo figure):

1. A separate synthetic population (accounts ``hist-…``, seeded, with fraud episodes) is stored
   through the ingestion service and scored by the real scoring service with the champion
   model, so scores, reasons, model versions and the cases the worker opens are real.
2. Several demo investigators and supervisors work those cases through the real workflow
   services (start review, notes, escalations, closures with dispositions, four-eyes
   approvals), so every step is in the audit log under the person who did it.
3. The services stamp everything with the current time and cannot back-date. Only the *case
   rows'* timestamps (``created_at``, ``due_at``, ``escalated_at``, ``closed_at``,
   ``updated_at``) are then moved, with one UPDATE per case, to when the case's transactions
   happened plus a simulated handling time. The audit events keep their true time (the log is
   append-only and says when the seeder really acted); the dashboard's "time to first action",
   which comes from the audit log, is therefore near zero for this history.
4. Quality review samples the (moved) closures with the real policy and supervisors review
   part of the queue through the real service; overturns reopen cases through the workflow.

Idempotent: nothing happens when ``hist-`` transactions exist already.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from core.errors import ApplicationError
from core.permissions import INVESTIGATOR, SUPERVISOR
from fraudcases import services
from fraudcases.models import Case, CaseTransaction, QAReview
from fraudcases.quality.services import qa_review_submit, qa_sample_closures
from scoring.engine.synthetic import generate_history
from scoring.management.commands.generate_transactions import frame_to_items
from scoring.models import Transaction
from scoring.services.ingest import transactions_store
from scoring.services.scoring import transactions_score

PREFIX = "hist-"
# Demo colleagues of the seeded users (same demo password).
INVESTIGATORS = ("investigator", "ivan", "ines")
SUPERVISORS = ("supervisor", "sofia")
# Share of closures the seeded investigators get wrong (quality review finds them).
ERROR_RATE = 0.1
INCONCLUSIVE_RATE = 0.08
ESCALATE_RATE = 0.15
# Cases whose activity is this recent stay open (the backlog).
OPEN_DAYS = 2


def _people(password: str) -> dict[str, object]:
    User = get_user_model()
    people = {}
    for name, role in [(n, INVESTIGATOR) for n in INVESTIGATORS] + [
        (n, SUPERVISOR) for n in SUPERVISORS
    ]:
        user, created = User.objects.get_or_create(
            username=name, defaults={"email": f"{name}@example.test"}
        )
        if created:
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=role))
        people[name] = user
    return people


def _store_and_score(frame) -> list[int]:
    items = frame_to_items(frame)
    for item in items:
        item.pop("is_fraud", None)
        item.pop("fraud_pattern", None)
    ids: list[int] = []
    for start in range(0, len(items), 5000):
        ids += transactions_store(
            items=items[start : start + 5000], source=Transaction.Source.API, mode="sync"
        ).ids
    for start in range(0, len(ids), 5000):
        transactions_score(transaction_ids=ids[start : start + 5000])
    return ids


def _work(case: Case, *, rng: random.Random, people: dict, truth: bool, stdout) -> dict:
    """Work one case through the services; returns what the simulation decided."""
    investigator = people[rng.choice(INVESTIGATORS)]
    services.case_start_review(case=case, actor=investigator)
    if rng.random() < 0.6:
        services.case_note_add(
            case=case,
            actor=investigator,
            body=rng.choice(
                [
                    "Called the customer; no answer, left a message.",
                    "Checked the device and IP history against earlier sessions.",
                    "Merchant contacted: the order was shipped to a new address.",
                    "Customer confirmed the purchases on the phone.",
                ]
            ),
        )
    wrong = rng.random() < ERROR_RATE
    inconclusive = not wrong and rng.random() < INCONCLUSIVE_RATE
    is_fraud = truth != wrong
    disposition = (
        "inconclusive" if inconclusive else ("fraud_confirmed" if is_fraud else "legitimate")
    )
    decided = {"wrong": wrong, "truth": truth, "escalated": False}
    closer = investigator
    if rng.random() < ESCALATE_RATE:
        services.case_escalate(
            case=case, actor=investigator, reason="Pattern matches a known mule network."
        )
        decided["escalated"] = True
        closer = people[rng.choice(SUPERVISORS)]
    note = {
        "fraud_confirmed": "Confirmed with the cardholder: not their transactions.",
        "legitimate": "Customer recognises the payments; travelling this week.",
        "inconclusive": "Customer unreachable; no further evidence either way.",
    }[disposition]
    case = services.case_close(case=case, actor=closer, disposition=disposition, note=note)
    if case.status == Case.Status.PENDING_APPROVAL:
        approver = next(
            people[s] for s in SUPERVISORS if people[s].pk != case.closure_requested_by_id
        )
        services.case_approve_closure(case=case, actor=approver, note="Reviewed the evidence.")
    return decided


def _move_case_times(case: Case, *, rng: random.Random, now, decided: dict | None) -> None:
    """Put the case row's timestamps where its activity happened (see the module doc)."""
    first = (
        Transaction.objects.filter(case_link__case=case).order_by("occurred_at").first()
    ).occurred_at
    opened = first + timedelta(minutes=rng.randint(1, 15))
    hours = settings.CASE_SLA_HOURS.get(case.priority, 24)
    fields = {"created_at": opened, "due_at": opened + timedelta(hours=hours)}
    if decided is not None:
        handling = timedelta(hours=min(rng.lognormvariate(2.3, 0.9), 24 * 6))
        closed = min(opened + handling, now - timedelta(minutes=30))
        fields.update(closed_at=closed, updated_at=closed)
        if decided["escalated"]:
            fields["escalated_at"] = opened + (closed - opened) / 3
    else:
        fields["updated_at"] = opened
    Case.objects.filter(pk=case.pk).update(**fields)


def _review(people: dict, decided_by_case: dict, rng: random.Random) -> tuple[int, int]:
    agreed = overturned = 0
    for review in QAReview.objects.filter(verdict="").select_related("case").order_by("pk"):
        if rng.random() < 0.3:
            continue  # left in the queue for the demo
        reviewer = next(
            (
                people[s]
                for s in SUPERVISORS
                if people[s].pk not in (review.investigator_id, review.closed_by_id)
            ),
            None,
        )
        decided = decided_by_case.get(review.case_id)
        if reviewer is None or decided is None:
            continue
        wrong = decided["wrong"] and review.disposition != "inconclusive"
        try:
            if wrong:
                qa_review_submit(
                    review=review,
                    actor=reviewer,
                    evidence_reviewed=True,
                    disposition_correct=False,
                    note_adequate=False,
                    verdict="overturn",
                    corrected_disposition="fraud_confirmed" if decided["truth"] else "legitimate",
                    comment="The evidence in the case points the other way; reopened.",
                )
                overturned += 1
            else:
                qa_review_submit(
                    review=review,
                    actor=reviewer,
                    evidence_reviewed=True,
                    disposition_correct=True,
                    note_adequate=rng.random() < 0.85,
                    verdict="agree",
                )
                agreed += 1
        except ApplicationError:
            continue  # e.g. the account has another open case: leave it in the queue
    return agreed, overturned


def demo_case_history_seed(
    *, password: str, days: int = 30, accounts: int = 500, seed: int = 2026, stdout=None
) -> int:
    """Seed the history described in the module doc; returns the number of cases worked."""
    if Transaction.objects.filter(account_id__startswith=PREFIX).exists():
        return 0
    rng = random.Random(seed)
    people = _people(password)
    now = timezone.now()
    frame = generate_history(
        n_accounts=accounts, days=days, end=now, seed=seed, fraud_account_share=0.08
    )
    frame["account_id"] = PREFIX + frame["account_id"].str.removeprefix("acct-")
    frame["external_id"] = PREFIX + frame["external_id"]
    truth_by_account: dict[str, bool] = defaultdict(bool)
    for account, label in zip(frame["account_id"], frame["is_fraud"], strict=True):
        truth_by_account[account] |= bool(label)
    _store_and_score(frame)

    cases = list(Case.objects.filter(account_id__startswith=PREFIX).order_by("pk"))
    recent = now - timedelta(days=OPEN_DAYS)
    decided_by_case: dict[int, dict] = {}
    for case in cases:
        last = (
            CaseTransaction.objects.filter(case=case)
            .order_by("-transaction__occurred_at")
            .values_list("transaction__occurred_at", flat=True)
            .first()
        )
        decided = None
        if last is not None and last < recent:
            decided = _work(
                case, rng=rng, people=people, truth=truth_by_account[case.account_id], stdout=stdout
            )
            decided_by_case[case.pk] = decided
        elif rng.random() < 0.5:
            services.case_start_review(case=case, actor=people[rng.choice(INVESTIGATORS)])
        _move_case_times(case, rng=rng, now=now, decided=decided)

    qa_sample_closures(since=now - timedelta(days=days + 7))
    agreed, overturned = _review(people, decided_by_case, rng)
    if stdout is not None:
        stdout.write(
            f"Seeded case history: {len(cases)} cases over {days} days ({len(decided_by_case)} "
            f"closed; quality review: {agreed} agreed, {overturned} overturned)."
        )
    return len(cases)
