"""Routing and auto-assignment: which queue a new case lands in, and who gets it.

- **Routing** (at open time, ``fraudcases.services.opening``): a new case lands in the first
  active queue, by ``CaseQueue.position``, whose criteria (``fraudcases.queue_criteria``) it
  matches, else in the default queue. The facts of a whole scoring batch (reason codes,
  channels, merchant categories, countries of its transactions) come with the query that reads
  their amounts; the queues, their eligible members and those members' loads take three more:
  a constant number of queries per batch, whatever its size.
- **Auto-assignment** (per queue, ``assign_mode``): ``round_robin`` hands cases to the queue's
  members in turn, ``least_loaded`` to the member holding the fewest open cases (ties in turn).
  Only members who are active, investigators or supervisors, and on duty
  (``InvestigatorDuty``: not off duty, not absent) take cases, and only while they hold fewer
  than the queue's ``max_open_per_person`` open cases (counted over every queue). Each
  assignment is a ``case.auto_assign`` audit event saying why (queue, mode, the person's load
  and cap, how many were eligible). A case nobody can take stays unassigned in its queue; the
  beat task ``fraudcases.assign_waiting_cases`` (every minute) hands such cases out once
  someone has room again (a case closed, someone back on duty, a new member, a higher cap).
- **Queues, memberships, duty**: written only by the services below, each audited.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.audit import PendingEvent, audit_record, audit_record_many
from core.errors import ApplicationError, PermissionDeniedError
from core.permissions import ADMIN, INVESTIGATOR, SUPERVISOR, ensure_allowed, user_roles

from ..models import Case, CaseQueue, InvestigatorDuty, QueueMembership
from ..queue_criteria import CaseFacts, criteria_errors, criteria_match, criteria_summary

User = AbstractBaseUser
SYSTEM_ROUTER = "system:router"
CASE_WORKER_ROLES = (INVESTIGATOR, SUPERVISOR)
Mode = CaseQueue.AssignMode


# --- Facts and decisions ------------------------------------------------------------------------


# The transaction columns routing reads (loaded with the amounts by the opening service).
FACT_FIELDS = ("reasons", "channel", "merchant_category", "country")


def transaction_facts(reasons, channel: str, category: str, country: str) -> tuple[frozenset, ...]:
    """One transaction's routing facts: (reason codes, channel, merchant category, country)."""
    codes = frozenset(r["code"] for r in reasons or [] if isinstance(r, dict) and r.get("code"))
    return (codes, *(frozenset({v}) if v else frozenset() for v in (channel, category, country)))


def case_facts(
    *, priority: str, risk_level: str, risk_score: float, amount: Decimal, rows: list[tuple]
) -> CaseFacts:
    """The routing facts of one case from its transactions' rows (:func:`transaction_facts`)."""
    union: list[frozenset] = [frozenset()] * 4
    for row in rows:
        union = [a | b for a, b in zip(union, row, strict=True)]
    return CaseFacts(
        priority=priority,
        risk_level=risk_level,
        risk_score=risk_score,
        amount=amount,
        reason_codes=union[0],
        channel=union[1],
        merchant_category=union[2],
        country=union[3],
    )


@dataclass
class Assignment:
    """Who auto-assignment picked for a case, and why (what the audit event records)."""

    user: Any
    reason: dict[str, Any]

    @property
    def user_id(self) -> int:
        return self.user.pk

    @property
    def username(self) -> str:
        return self.user.get_username()

    def note(self) -> str:
        r = self.reason
        return (
            f"Auto-assigned by queue '{r['queue']}' ({r['mode'].replace('_', '-')}): "
            f"{self.username} held {r['load']} of at most {r['cap']} open cases "
            f"({r['eligible']} eligible member(s) on duty)."
        )


@dataclass
class Route:
    """Where a new case goes: its queue (``None`` when no queue exists), why, and its
    assignee when the queue auto-assigns and someone has room."""

    queue: CaseQueue | None
    why: str
    assignment: Assignment | None = None

    def audit_facts(self) -> dict[str, Any]:
        return {"queue": self.queue.name if self.queue else None, "routed": self.why}


@dataclass
class _Member:
    user: Any  # the person (loaded once per batch: a case's snapshot names its assignee)

    @property
    def user_id(self) -> int:
        return self.user.pk


@dataclass
class Router:
    """The routing configuration of one batch, loaded once (:meth:`load`): queues in order,
    the eligible members of the auto-assigning ones and their open-case loads."""

    queues: list[CaseQueue]
    default: CaseQueue | None
    members: dict[int, list[_Member]] = field(default_factory=dict)
    loads: dict[int, int] = field(default_factory=dict)
    cursors: dict[int, int | None] = field(default_factory=dict)
    moved: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, *, lock: bool = True) -> Router:
        """Three queries: the active queues (the auto-assigning ones locked, so concurrent
        workers do not overrun a cap), their eligible members, and those members' loads."""
        queues = list(CaseQueue.objects.filter(active=True).order_by("position", "id"))
        auto = [q.pk for q in queues if q.assign_mode != Mode.OFF]
        if auto and lock:
            locked = CaseQueue.objects.select_for_update().filter(pk__in=auto).order_by("pk")
            fresh = {q.pk: q for q in locked}
            queues = [fresh.get(q.pk, q) for q in queues]
        default = next((q for q in queues if q.is_default), None)
        router = cls(
            queues=[q for q in queues if not q.is_default],
            default=default,
            cursors={q.pk: q.rr_last_user_id for q in queues},
        )
        if auto:
            router._load_members(auto)
        return router

    def _load_members(self, queue_ids: list[int]) -> None:
        on_duty = Q(user__duty__isnull=True) | Q(
            user__duty__off_duty=False, user__duty__absent=False
        )
        workers = QueueMembership.objects.filter(user__groups__name__in=CASE_WORKER_ROLES)
        rows = (
            QueueMembership.objects.filter(
                on_duty, queue_id__in=queue_ids, user__is_active=True, pk__in=workers.values("pk")
            )
            .select_related("user")
            .order_by("queue_id", "user_id")
        )
        for membership in rows:
            self.members.setdefault(membership.queue_id, []).append(_Member(membership.user))
        user_ids = {m.user_id for ms in self.members.values() for m in ms}
        self.loads = {uid: 0 for uid in user_ids}
        counts = (
            Case.objects.filter(status__in=Case.OPEN_STATUSES, assignee_id__in=user_ids)
            .values("assignee_id")
            .annotate(n=Count("id"))
            .values_list("assignee_id", "n")
        )
        self.loads.update(dict(counts))

    def route(self, facts: CaseFacts) -> Route:
        """The first matching queue (else the default), and an assignee when it auto-assigns."""
        for queue in self.queues:
            if criteria_match(queue.criteria or {}, facts):
                why = f"Matched queue '{queue.name}' ({criteria_summary(queue.criteria or {})})."
                return Route(queue=queue, why=why, assignment=self.pick(queue))
        if self.default is None:
            return Route(queue=None, why="No queue matched and there is no default queue.")
        why = f"No other queue matched: default queue '{self.default.name}'."
        return Route(queue=self.default, why=why, assignment=self.pick(self.default))

    def pick(self, queue: CaseQueue) -> Assignment | None:
        """The member who gets the queue's next case (their load counted in memory), or
        ``None`` when the queue does not auto-assign or everyone is at the cap."""
        if queue.assign_mode == Mode.OFF:
            return None
        members = self.members.get(queue.pk, [])
        cap = queue.max_open_per_person
        last = self.cursors.get(queue.pk)
        # In turn after the member who got the last case (round-robin order, and the tie-break
        # of least-loaded).
        turn = [m for m in members if last is None or m.user_id > last]
        turn += [m for m in members if last is not None and m.user_id <= last]
        room = [m for m in turn if self.loads.get(m.user_id, 0) < cap]
        if not room:
            return None
        if queue.assign_mode == Mode.LEAST_LOADED:
            chosen = min(room, key=lambda m: self.loads.get(m.user_id, 0))
        else:
            chosen = room[0]
        load = self.loads.get(chosen.user_id, 0)
        self.loads[chosen.user_id] = load + 1
        self.cursors[queue.pk] = chosen.user_id
        self.moved.add(queue.pk)
        reason = {
            "queue": queue.name,
            "queue_id": queue.pk,
            "mode": queue.assign_mode,
            "load": load,
            "cap": cap,
            "eligible": len(members),
            "at_cap": len(members) - len(room),
        }
        return Assignment(user=chosen.user, reason=reason)

    def release(self, route: Route) -> None:
        """Undo the in-memory load of a route whose case was not created after all."""
        if route.assignment is not None:
            self.loads[route.assignment.user_id] -= 1

    def save_cursors(self) -> None:
        """Remember, per queue that handed out cases, who got the last one (one UPDATE per
        such queue: bounded by the number of queues, not of cases)."""
        for queue_id in sorted(self.moved):
            CaseQueue.objects.filter(pk=queue_id).update(rr_last_user_id=self.cursors[queue_id])
        self.moved.clear()


def auto_assign_event(*, case: Case, assignment: Assignment) -> PendingEvent:
    """The ``case.auto_assign`` audit event of a case just given to ``assignment``'s person."""
    after = case.snapshot() | {"assignee": assignment.username, **assignment.reason}
    return PendingEvent(
        action="case.auto_assign",
        actor_label=SYSTEM_ROUTER,
        case=case,
        before=case.snapshot() | {"assignee": None},
        after=after,
        note=assignment.note(),
    )


@transaction.atomic
def cases_assign_waiting(*, limit: int = 500) -> list[Case]:
    """Hand out the unassigned, new, not snoozed cases of auto-assigning queues to members
    with room (queue order, then priority and risk; at most ``limit``). The beat task
    ``fraudcases.assign_waiting_cases`` runs it every minute. Idempotent: an assigned case is
    not picked again; one UPDATE per person who receives cases."""
    router = Router.load(lock=True)
    auto = [q for q in [*router.queues, router.default] if q and q.assign_mode != Mode.OFF]
    if not any(router.members.get(q.pk) for q in auto):
        return []
    by_id = {q.pk: q for q in auto}
    waiting = Case.objects.filter(
        queue_id__in=list(by_id),
        status=Case.Status.NEW,
        assignee__isnull=True,
        snoozed_until__isnull=True,
    ).order_by("queue__position", "queue_id", "-priority_rank", "-risk_score", "created_at", "id")
    if transaction.get_connection().features.has_select_for_update_skip_locked:
        waiting = waiting.select_for_update(skip_locked=True, of=("self",))
    full: set[int] = set()
    given: dict[int, list[Case]] = defaultdict(list)
    events: list[PendingEvent] = []
    for case in waiting[:limit]:
        if case.queue_id in full:
            continue
        assignment = router.pick(by_id[case.queue_id])
        if assignment is None:
            full.add(case.queue_id)
            continue
        case.assignee = assignment.user
        events.append(auto_assign_event(case=case, assignment=assignment))
        given[assignment.user_id].append(case)
    now = timezone.now()
    for user_id, cases in given.items():
        Case.objects.filter(pk__in=[c.pk for c in cases]).update(
            assignee_id=user_id, updated_at=now
        )
    router.save_cursors()
    audit_record_many(events=events)
    return [c for cases in given.values() for c in cases]


# --- Queues and memberships (admins; memberships also supervisors) ---------------------------


QUEUE_FIELDS = (
    "name",
    "description",
    "position",
    "is_default",
    "active",
    "criteria",
    "assign_mode",
    "max_open_per_person",
    "snooze_pauses_sla",
)


def _check_queue(queue: CaseQueue) -> None:
    errors = criteria_errors(queue.criteria)
    if errors:
        raise ApplicationError("The queue's criteria are not valid.", {"criteria": errors})
    if queue.is_default and not queue.active:
        raise ApplicationError(
            "The default queue cannot be inactive.", {"active": ["The default queue stays active."]}
        )
    other_default = CaseQueue.objects.filter(is_default=True).exclude(pk=queue.pk)
    if queue.is_default and other_default.exists():
        raise ApplicationError(
            "There is a default queue already; unmark it first.",
            {"is_default": [f"'{other_default.first().name}' is the default queue."]},
        )


@transaction.atomic
def queue_save(*, actor: User, queue: CaseQueue, values: dict[str, Any]) -> CaseQueue:
    """Create (``queue.pk`` is ``None``) or change a queue with ``values`` (a subset of
    :data:`QUEUE_FIELDS`); audited as ``queue.create`` / ``queue.update`` with before/after."""
    ensure_allowed(actor, "queue.manage")
    unknown = set(values) - set(QUEUE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown queue fields: {', '.join(sorted(unknown))}.")
    creating = queue.pk is None
    if not creating:
        queue = CaseQueue.objects.select_for_update().get(pk=queue.pk)
    before = None if creating else queue.snapshot()
    for name, value in values.items():
        setattr(queue, name, value)
    queue.criteria = queue.criteria or {}
    _check_queue(queue)
    queue.save()
    audit_record(
        actor=actor,
        action="queue.create" if creating else "queue.update",
        obj=queue,
        before=before,
        after=queue.snapshot(),
    )
    return queue


@transaction.atomic
def queue_member_add(*, actor: User, queue: CaseQueue, user: User) -> QueueMembership:
    """Put a person (an active investigator or supervisor) in a queue; audited."""
    ensure_allowed(actor, "queue.members")
    if not user.is_active or not user_roles(user) & set(CASE_WORKER_ROLES):
        raise ApplicationError(
            f"{user.get_username()} does not work cases (needs the investigator or supervisor "
            "role).",
            {"user": ["Not an active investigator or supervisor."]},
        )
    membership, created = QueueMembership.objects.get_or_create(
        queue=queue, user=user, defaults={"added_by": actor}
    )
    if not created:
        raise ApplicationError(
            f"{user.get_username()} is in '{queue.name}' already.", {"user": ["Already a member."]}
        )
    audit_record(
        actor=actor,
        action="queue.member_add",
        obj=queue,
        after={"queue": queue.name, "user": user.get_username()},
    )
    return membership


@transaction.atomic
def queue_member_remove(*, actor: User, membership: QueueMembership) -> None:
    """Take a person out of a queue (their cases stay theirs); audited."""
    ensure_allowed(actor, "queue.members")
    membership = QueueMembership.objects.select_related("queue", "user").get(pk=membership.pk)
    facts = {"queue": membership.queue.name, "user": membership.user.get_username()}
    queue = membership.queue
    membership.delete()
    audit_record(actor=actor, action="queue.member_remove", obj=queue, before=facts)


# --- Duty: off duty (the person, or a supervisor / admin), absent (supervisor / admin) -----------


@transaction.atomic
def duty_update(
    *,
    actor: User,
    user: User,
    off_duty: bool | None = None,
    absent: bool | None = None,
    note: str | None = None,
) -> InvestigatorDuty:
    """Set a person's duty flags (``None`` leaves one as it is); audited as ``duty.update``.

    A person sets their own ``off_duty``; supervisors and admins set anyone's flags, and only
    they record ``absent``. Off duty or absent, the person gets no auto-assigned case (their
    cases stay theirs)."""
    roles = user_roles(actor)
    manager = bool(roles & {SUPERVISOR, ADMIN})
    if user.pk == actor.pk and not manager:
        ensure_allowed(actor, "duty.set_own")
    else:
        ensure_allowed(actor, "duty.set_any")
    duty = InvestigatorDuty.objects.select_for_update().filter(user=user).first()
    duty = duty or InvestigatorDuty(user=user)
    before = duty.snapshot() if duty.pk else None
    if absent is not None and absent != duty.absent and not manager:
        raise PermissionDeniedError("Only supervisors and admins record an absence.")
    note = (note if note is not None else duty.note).strip()
    if len(note) > 200:
        raise ApplicationError("The note is too long.", {"note": ["At most 200 characters."]})
    duty.off_duty = duty.off_duty if off_duty is None else bool(off_duty)
    duty.absent = duty.absent if absent is None else bool(absent)
    duty.note = note
    duty.updated_by = actor
    duty.save()
    audit_record(
        actor=actor,
        action="duty.update",
        obj=duty,
        before=before,
        after=duty.snapshot() | {"user": user.get_username()},
        note=f"{user.get_username()} is {duty.state}.",
    )
    return duty


def sla_paused_q() -> Q:
    """Cases whose SLA clock is stopped now: snoozed, in a queue that pauses it (a case with no
    queue follows ``CASE_SNOOZE_PAUSES_SLA``)."""
    pauses = Q(queue__snooze_pauses_sla=True)
    if settings.CASE_SNOOZE_PAUSES_SLA:
        pauses |= Q(queue__isnull=True)
    return Q(snoozed_until__isnull=False) & pauses


# --- The demo's queues (``seed_demo``) ---------------------------------------------------------

DEMO_QUEUES = (
    {"name": "High value", "position": 10, "criteria": {"amount_min": "5000"}},
    {
        "name": "Account takeover",
        "position": 20,
        "criteria": {"reason_codes": ["new_device", "new_country", "location"]},
        "assign_mode": Mode.ROUND_ROBIN,
    },
    {
        "name": "Card fraud",
        "position": 30,
        "criteria": {"reason_codes": ["velocity", "new_merchant", "merchant_risk"]},
    },
)


@transaction.atomic
def routing_demo_setup(*, actor: User, members: list[User]) -> list[str]:
    """Create the demo's queues that are missing and put ``members`` in every queue
    (idempotent, through the audited services); returns what was created."""
    created = []
    for spec in DEMO_QUEUES:
        if not CaseQueue.objects.filter(name=spec["name"]).exists():
            queue_save(actor=actor, queue=CaseQueue(), values=dict(spec))
            created.append(f"queue '{spec['name']}'")
    for queue in CaseQueue.objects.order_by("position", "id"):
        for user in members:
            if not QueueMembership.objects.filter(queue=queue, user=user).exists():
                queue_member_add(actor=actor, queue=queue, user=user)
                created.append(f"membership of {user.get_username()} in '{queue.name}'")
    return created
