"""The case workflow, declared once.

Each :class:`CaseAction` says from which statuses it may be taken, by which roles, what it needs
(note, disposition, reason, assignee…), which service runs it, which audit action codes it leaves
and how it is labelled. Everything else derives from this table:

- ``core.permissions.ACTION_ROLES`` (the case actions' roles) and the object-level rules
  (``owned``, ``supervisor_stage``, ``not_own_closure``);
- the status checks in ``fraudcases.services.transitions``;
- the actions a page offers (``fraudcases.selectors.case_available_actions``), the page forms
  (``fraudcases.forms.action_form_class``) and page dispatch (``fraudcases.views.cases``);
- the case API's actions and input serializers (``fraudcases.api``);
- bulk actions (:data:`BULK_ACTIONS`) and the Django admin's case actions.

Adding an action means one entry in :data:`CASE_ACTIONS` (and writing its service). This module
imports nothing that writes: services are named by dotted path and resolved when first run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.utils.module_loading import import_string

from core.roles import ADMIN, AUDITOR, INVESTIGATOR, SUPERVISOR

from .models import Case

S = Case.Status
ALL_STATUSES = frozenset(S.values)
OPEN = frozenset(Case.OPEN_STATUSES)
CASE_WORKERS = frozenset({INVESTIGATOR, SUPERVISOR})

# Surfaces an action is offered on.
PAGE, API, ADMIN_SITE = "page", "api", "admin"
EVERYWHERE = frozenset({PAGE, API, ADMIN_SITE})

TEXT_MAX = 10_000


@dataclass(frozen=True)
class Input:
    """One piece of input an action needs; pages, the API and the admin build fields from it.

    ``kind``: ``text`` (free text, at most 10,000 characters), ``line`` (one line, at most 200
    characters), ``disposition`` (one of ``Case.CLOSING_DISPOSITIONS``), ``user`` (a username;
    empty means nobody), ``tags`` (a comma-separated list of tag names), ``datetime`` (ISO 8601
    with a zone) or ``case`` (a case number).
    """

    name: str
    kind: str
    label: str
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class CaseAction:
    """One case action of the workflow.

    - ``slug``: the name in URLs (``POST /cases/<id>/<slug>/``, ``/api/v1/cases/<id>/<slug>``);
    - ``code``: the permission and audit action code (several slugs may share one, e.g. ``take``
      is ``case.assign`` to oneself); entries sharing a code declare the same statuses, and the
      code's roles are the union of theirs;
    - ``roles``: who may take it at all; object-level rules: ``owned`` (an investigator only on
      a case that is theirs or nobody's), ``supervisor_stage`` (not by investigators once the
      case is escalated or waiting for approval), ``not_own_closure`` (four-eyes: nobody
      approves a closure they requested);
    - ``from_statuses``: where it may be taken; ``to``: what it does to the status (for people);
    - ``inputs``: what it needs; ``fixed``: arguments always passed to the service;
    - ``service``: dotted path of the service, called as ``service(case=, actor=, **inputs)``;
    - ``audit``: the audit action codes it may record;
    - ``surfaces``: page, API, admin (``per_case=False`` actions are dispatched elsewhere);
    - ``done``: the success message, from the service's result and the input.
    """

    slug: str
    code: str
    label: str
    roles: frozenset[str]
    from_statuses: frozenset[str]
    to: str
    service: str
    audit: tuple[str, ...]
    inputs: tuple[Input, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)
    owned: bool = False
    supervisor_stage: bool = False
    not_own_closure: bool = False
    surfaces: frozenset[str] = EVERYWHERE
    per_case: bool = True
    done: Callable[[Any, dict], str] = lambda result, data: "Done."

    @property
    def form_label(self) -> str:
        """The label with an ellipsis when the action asks for input first (admin, menus)."""
        return f"{self.label}…" if self.inputs else self.label

    def run(self, *, case: Case, actor, data: dict[str, Any]) -> Any:
        """Call the service with the case, the actor and the declared inputs from ``data``."""
        kwargs = {i.name: data.get(i.name) for i in self.inputs if i.name in data}
        return _service(self.service)(case=case, actor=actor, **self.fixed, **kwargs)


@cache
def _service(path: str) -> Callable[..., Any]:
    return import_string(path)


NOTE = Input("note", "text", "Note")
REASON = Input("reason", "text", "Reason")
DISPOSITION = Input("disposition", "disposition", "Disposition")
_T = "fraudcases.services.transitions."
_E = "fraudcases.services.evidence."
_Z = "fraudcases.services.snooze."
_M = "fraudcases.services.merge."
# Where a case can be put aside, merged, or have a transaction moved: open, not yet with the
# approver (a closure waiting for approval is decided first).
WORKABLE = frozenset({S.NEW, S.IN_REVIEW, S.ESCALATED})
INTO = Input("into", "case", "Into case #", help="The case number that receives the evidence.")


def _closed_message(case: Case, data: dict) -> str:
    if case.status == S.PENDING_APPROVAL:
        return "Closure requested: a supervisor must approve it (four-eyes rule)."
    return "Case closed."


def _assigned_message(case: Case, data: dict) -> str:
    assignee = data.get("assignee")
    return f"Assigned to {assignee.get_username()}." if assignee else "Unassigned."


CASE_ACTIONS: tuple[CaseAction, ...] = (
    CaseAction(
        slug="claim",
        code="case.claim",
        label="Take next case",
        roles=CASE_WORKERS,
        from_statuses=frozenset({S.NEW}),
        to="new → in_review, assigned to the claimer (the top unassigned case)",
        service=_T + "case_claim_next",
        audit=("case.claim",),
        surfaces=frozenset({PAGE}),
        per_case=False,  # /cases/next/ picks the case; no case is named
    ),
    CaseAction(
        slug="take",
        code="case.assign",
        label="Assign to me",
        roles=CASE_WORKERS,  # admins assign others (``assign``) but do not work cases
        from_statuses=OPEN,
        to="unchanged; the assignee becomes the actor",
        service=_T + "case_take",
        audit=("case.assign",),
        done=lambda case, data: "The case is yours.",
    ),
    CaseAction(
        slug="assign",
        code="case.assign",
        label="Assign",
        roles=CASE_WORKERS | {ADMIN},
        from_statuses=OPEN,
        to="unchanged; investigators assign to themselves only",
        service=_T + "case_assign",
        audit=("case.assign", "case.unassign"),
        inputs=(Input("assignee", "user", "Assignee", required=False, help="Empty: unassign."),),
        surfaces=frozenset({PAGE, API}),
        done=_assigned_message,
    ),
    CaseAction(
        slug="start-review",
        code="case.start_review",
        label="Start review",
        roles=CASE_WORKERS,
        from_statuses=frozenset({S.NEW}),
        to="new → in_review (the reviewer takes an unassigned case)",
        service=_T + "case_start_review",
        audit=("case.start_review",),
        owned=True,
        done=lambda case, data: "Review started.",
    ),
    CaseAction(
        slug="escalate",
        code="case.escalate",
        label="Escalate",
        roles=CASE_WORKERS,
        from_statuses=frozenset({S.NEW, S.IN_REVIEW}),
        to="→ escalated (the supervisors' queue)",
        service=_T + "case_escalate",
        audit=("case.escalate",),
        inputs=(REASON,),
        owned=True,
        done=lambda case, data: "Escalated to the supervisors.",
    ),
    CaseAction(
        slug="close",
        code="case.close",
        label="Close with disposition",
        roles=CASE_WORKERS,
        from_statuses=frozenset({S.NEW, S.IN_REVIEW, S.ESCALATED}),
        to="→ closed, or → pending_approval when four-eyes applies",
        service=_T + "case_close",
        audit=("case.close", "case.request_closure"),
        inputs=(DISPOSITION, NOTE),
        owned=True,
        supervisor_stage=True,
        done=_closed_message,
    ),
    CaseAction(
        slug="request-approval",
        code="case.request_closure",
        label="Request approval",
        roles=CASE_WORKERS,
        from_statuses=frozenset({S.NEW, S.IN_REVIEW, S.ESCALATED}),
        to="→ pending_approval (a second supervisor decides)",
        service=_T + "case_request_closure",
        audit=("case.request_closure",),
        inputs=(DISPOSITION, NOTE),
        owned=True,
        supervisor_stage=True,
        # The page's "Close…" already asks for approval where four-eyes applies.
        surfaces=frozenset({API, ADMIN_SITE}),
        done=lambda case, data: "Closure requested: another supervisor must approve it.",
    ),
    CaseAction(
        slug="approve",
        code="case.approve",
        label="Approve closure",
        roles=frozenset({SUPERVISOR}),
        from_statuses=frozenset({S.PENDING_APPROVAL}),
        to="pending_approval → closed with the proposed disposition",
        service=_T + "case_approve_closure",
        audit=("case.approve",),
        inputs=(Input("note", "text", "Note", required=False),),
        not_own_closure=True,
        done=lambda case, data: "Closure approved; the case is closed.",
    ),
    CaseAction(
        slug="reject",
        code="case.reject_closure",
        label="Send back",
        roles=frozenset({SUPERVISOR}),
        from_statuses=frozenset({S.PENDING_APPROVAL}),
        to="pending_approval → in_review",
        service=_T + "case_reject_closure",
        audit=("case.reject_closure",),
        inputs=(Input("note", "text", "What is missing"),),
        done=lambda case, data: "Sent back to review.",
    ),
    CaseAction(
        slug="reopen",
        code="case.reopen",
        label="Reopen",
        roles=frozenset({SUPERVISOR}),
        from_statuses=frozenset({S.CLOSED}),
        to="closed → in_review (the disposition and its training labels are cleared)",
        service=_T + "case_reopen",
        audit=("case.reopen",),
        inputs=(REASON,),
        done=lambda case, data: "Case reopened.",
    ),
    CaseAction(
        slug="note",
        code="case.note",
        label="Add note",
        roles=CASE_WORKERS,
        from_statuses=ALL_STATUSES,
        to="unchanged",
        service=_E + "case_note_add",
        audit=("case.note",),
        inputs=(Input("body", "text", "Note (markdown)"),),
        owned=True,
        done=lambda note, data: "Note added.",
    ),
    CaseAction(
        slug="tag",
        code="case.tag",
        label="Tag",
        roles=CASE_WORKERS,
        from_statuses=ALL_STATUSES,
        to="unchanged",
        service=_E + "case_tags_update",
        audit=("case.tag",),
        inputs=(
            Input("add", "tags", "Add tags", required=False, help="Comma-separated"),
            Input("remove", "tags", "Remove tags", required=False),
        ),
        owned=True,
        supervisor_stage=True,
        surfaces=frozenset({PAGE, ADMIN_SITE}),
        done=lambda tags, data: f"Tags: {', '.join(tags) or 'none'}.",
    ),
    CaseAction(
        slug="snooze",
        code="case.snooze",
        label="Snooze",
        roles=CASE_WORKERS,
        from_statuses=WORKABLE,
        to="unchanged; out of the active queue until the time or a new risky transaction",
        service=_Z + "case_snooze",
        audit=("case.snooze",),
        inputs=(
            Input("until", "datetime", "Wake up at", help="ISO 8601, e.g. 2026-12-03T09:00Z"),
            Input("reason", "text", "Waiting for"),
        ),
        owned=True,
        done=lambda case, data: f"Snoozed until {case.snoozed_until:%Y-%m-%d %H:%M} UTC.",
    ),
    CaseAction(
        slug="wake",
        code="case.wake",
        label="Wake now",
        roles=CASE_WORKERS,
        from_statuses=WORKABLE,
        to="unchanged; back in the active queue (the snoozed time is added to the SLA when paused)",
        service=_Z + "case_wake",
        audit=("case.wake",),
        inputs=(Input("note", "text", "Note", required=False),),
        owned=True,
        done=lambda case, data: "The case is back in the queue.",
    ),
    CaseAction(
        slug="merge",
        code="case.merge",
        label="Merge into another case",
        roles=CASE_WORKERS,
        from_statuses=WORKABLE,
        to="→ closed as merged; transactions, notes, attachments and tags move to the target",
        service=_M + "case_merge",
        audit=("case.merge",),
        inputs=(INTO, Input("note", "text", "Why these cases are one")),
        owned=True,
        supervisor_stage=True,
        done=lambda target, data: f"Merged into case #{target.pk}.",
    ),
    CaseAction(
        slug="move-transaction",
        code="case.move_transaction",
        label="Move a transaction",
        roles=CASE_WORKERS,
        from_statuses=WORKABLE,
        to="unchanged; one transaction moves to another case",
        service=_M + "case_transaction_move",
        audit=("case.move_transaction",),
        inputs=(
            Input("transaction_id", "line", "Transaction (external id)"),
            INTO,
            Input("note", "text", "Why it belongs there"),
        ),
        owned=True,
        supervisor_stage=True,
        surfaces=frozenset({PAGE, API}),
        done=lambda case, data: f"Transaction moved to case #{data['into']}.",
    ),
    CaseAction(
        slug="attach",
        code="case.attach",
        label="Attach a file",
        roles=CASE_WORKERS,
        from_statuses=ALL_STATUSES,
        to="unchanged",
        service=_E + "attachment_add",
        audit=("case.attach",),
        owned=True,
        supervisor_stage=True,
        surfaces=frozenset({PAGE}),
        per_case=False,  # a file upload: its own view (POST /cases/<id>/attachments/)
    ),
)

BY_SLUG: dict[str, CaseAction] = {a.slug: a for a in CASE_ACTIONS}


def case_action(slug: str) -> CaseAction | None:
    """The action named ``slug`` in URLs, or ``None``."""
    return BY_SLUG.get(slug)


def actions_on(surface: str) -> tuple[CaseAction, ...]:
    """The per-case actions offered on ``surface`` (``page``, ``api`` or ``admin``)."""
    return tuple(a for a in CASE_ACTIONS if a.per_case and surface in a.surfaces)


def _by_code() -> dict[str, CaseAction]:
    found: dict[str, CaseAction] = {}
    for a in CASE_ACTIONS:
        other = found.setdefault(a.code, a)
        if other.from_statuses != a.from_statuses or other.owned != a.owned:
            raise ValueError(f"Workflow entries for {a.code} disagree on statuses or ownership.")
    return found


# One entry per permission / audit code (what ``ensure_allowed`` and the status checks read).
BY_CODE: dict[str, CaseAction] = _by_code()
CODE_ROLES: dict[str, frozenset[str]] = {
    code: frozenset().union(*(a.roles for a in CASE_ACTIONS if a.code == code)) for code in BY_CODE
}
ALLOWED_FROM: dict[str, frozenset[str]] = {c: a.from_statuses for c, a in BY_CODE.items()}
OWNED_ACTIONS = frozenset(c for c, a in BY_CODE.items() if a.owned)
SUPERVISOR_STAGE_ACTIONS = frozenset(c for c, a in BY_CODE.items() if a.supervisor_stage)
NOT_OWN_CLOSURE_ACTIONS = frozenset(c for c, a in BY_CODE.items() if a.not_own_closure)
SUPERVISOR_STAGE_STATUSES = frozenset({S.ESCALATED, S.PENDING_APPROVAL})

# Case permissions that are not transitions: reading, bulk, evidence housekeeping.
CASE_PERMISSIONS: dict[str, frozenset[str]] = {
    "case.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "case.attachment_download": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "case.bulk": CASE_WORKERS,
    # Removing evidence keeps a tombstone and is audited; supervisors only.
    "case.note_delete": frozenset({SUPERVISOR}),
    "case.attachment_delete": frozenset({SUPERVISOR}),
    # Tags as a vocabulary (rename, delete, create outside a case).
    "tag.manage": frozenset({SUPERVISOR, ADMIN}),
}


@dataclass(frozen=True)
class BulkAction:
    """An all-or-nothing bulk action on the queue: a case action with some inputs fixed."""

    slug: str
    label: str
    action: str  # slug of the case action it runs per case
    inputs: tuple[Input, ...]
    # The case action's input from the bulk form's (fixed values included).
    data: Callable[[dict], dict] = lambda data: data

    @property
    def case_action(self) -> CaseAction:
        return BY_SLUG[self.action]


BULK_ACTIONS: tuple[BulkAction, ...] = (
    BulkAction(
        slug="assign",
        label="Assign to…",
        action="assign",
        inputs=(Input("assignee", "user", "Assignee"),),
    ),
    BulkAction(
        slug="tag",
        label="Tag with…",
        action="tag",
        inputs=(Input("tag", "text", "Tag"),),
        data=lambda data: {"add": [data["tag"]]},
    ),
    BulkAction(
        slug="close_legitimate",
        label="Close as legitimate",
        action="close",
        inputs=(Input("note", "text", "Closing note"),),
        data=lambda data: {"note": data["note"], "disposition": Case.Disposition.LEGITIMATE},
    ),
)
BULK_BY_SLUG: dict[str, BulkAction] = {b.slug: b for b in BULK_ACTIONS}
