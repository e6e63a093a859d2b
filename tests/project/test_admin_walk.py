"""The admin walk: every registered ModelAdmin × every role × (list, add, change, delete, every
action). Each accepted write must leave the audit event its rule names; each refused one must
change nothing (the model's rows, the sample row, the audit log). A registered model without an
admin rule (``core.admin_rules.ADMIN_RULES``) or without samples to walk it fails here.

Samples come from the rule (``example`` / ``add_data`` / ``change_data`` / ``action_data``) or,
for the case, scoring and auth models, from :data:`SAMPLES` below.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.admin_rules import ADMIN_RULES, ModelRule, RoleModelAdmin
from core.audit import audit_record
from core.models import AuditCheck, AuditEvent, LoginFailure
from core.roles import ROLES
from fraudcases import services
from fraudcases.models import Case, Note, Tag
from fraudcases.workflow import BY_SLUG
from scoring.models import (
    DriftReport,
    EvaluationReport,
    ModelVersion,
    Rule,
    WorkerHeartbeat,
)
from scoring.services.apikeys import api_key_create
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db
REGISTERED = sorted(m._meta.label_lower for m in admin.site._registry)
_n = itertools.count(1)


def _seq() -> int:
    return next(_n)


@dataclass
class Samples:
    example: Callable[[str | None], models.Model]
    add_data: Callable[[], dict] | None = None
    change_data: Callable[[models.Model], dict] | None = None
    action_data: dict[str, Callable[[models.Model], dict]] = field(default_factory=dict)


def _person(role: str | None = "investigator") -> models.Model:
    user = get_user_model().objects.create_user(f"walk-{_seq()}", password="x-walk-pass-2026")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _case(action: str | None) -> Case:
    """A fresh unassigned case in a status the workflow action ``action`` applies to."""
    case = CaseFactory()
    spec = BY_SLUG.get((action or "").removeprefix("wf_").replace("_", "-"))
    if spec is None:
        return case
    order = [s for s in Case.Status.values if s in spec.from_statuses]
    status = order[0]
    changes: dict = {"status": status}
    if status == Case.Status.PENDING_APPROVAL:
        changes |= {"proposed_disposition": "legitimate", "closure_requested_by": _person()}
    if status == Case.Status.CLOSED:
        changes |= {"disposition": "legitimate", "closed_at": timezone.now()}
    if spec.slug == "wake":
        now = timezone.now()
        changes |= {"snoozed_until": now + timedelta(days=1), "snoozed_at": now}
    Case.objects.filter(pk=case.pk).update(**changes)
    case.refresh_from_db()
    return case


_INPUT_VALUES = {
    "reason": "walk: reason",
    "note": "walk: note",
    "body": "walk: note",
    "disposition": "legitimate",
    "add": "walk-tag",
    "remove": "",
    # Snooze: a time within CASE_SNOOZE_MAX_DAYS; merge: another open case of the account.
    "until": lambda case: (timezone.now() + timedelta(days=1)).isoformat(),
    "into": lambda case: CaseFactory(account_id=case.account_id, trigger="walk").pk,
}


def _case_action_data(name: str) -> Callable[[models.Model], dict]:
    spec = BY_SLUG[name.removeprefix("wf_").replace("_", "-")]

    def data(case):
        values = {i.name: _INPUT_VALUES[i.name] for i in spec.inputs}
        return {k: v(case) if callable(v) else v for k, v in values.items()}

    return data


def _note(action: str | None) -> Note:
    return Note.objects.create(case=CaseFactory(), author=_person(), body="walk: a note")


def _attachment(action: str | None):
    return services.attachment_add(
        case=CaseFactory(),
        actor=_person("supervisor"),
        upload=SimpleUploadedFile("walk.txt", b"walk evidence"),
    )


def _rule_data(**changes) -> dict:
    return {
        "name": f"walk-rule-{_seq()}",
        "expression": "amount > 5000",
        "risk_floor": 80,
        "reason": "walk",
        "is_active": "on",
    } | changes


def _rule(action: str | None) -> Rule:
    return Rule.objects.create(name=f"walk-rule-{_seq()}", expression="amount > 1", risk_floor=70)


def _user(action: str | None):
    user = _person()
    if action == "revoke_tokens":
        Token.objects.create(user=user)
    return user


def _user_data(user) -> dict:
    return {
        "username": user.username,
        "email": "walk@example.org",
        "first_name": "Walk",
        "last_name": "Er",
        "is_active": "on",
        "roles": ["investigator", "supervisor"],
    }


def _drift(action: str | None) -> DriftReport:
    now = timezone.now()
    return DriftReport.objects.create(
        reference_start=now - timedelta(days=8),
        reference_end=now - timedelta(days=1),
        current_start=now - timedelta(days=1),
        current_end=now,
    )


SAMPLES: dict[str, Samples] = {
    "fraudcases.case": Samples(
        example=_case,
        action_data={
            name: _case_action_data(name)
            for name in ADMIN_RULES["fraudcases.case"].actions
            if name.startswith("wf_")
        },
    ),
    "fraudcases.note": Samples(
        example=_note,
        add_data=lambda: {"case": CaseFactory().pk, "body": "walk: added in the admin"},
        change_data=lambda note: {"case": note.case_id, "body": "EDITED BY ADMIN"},
        action_data={"remove_notes": lambda note: {"reason": "walk: wrong case"}},
    ),
    "fraudcases.attachment": Samples(
        example=_attachment,
        change_data=lambda a: {"original_name": "renamed.txt"},
        action_data={"remove_attachments": lambda a: {"reason": "walk: wrong file"}},
    ),
    "fraudcases.tag": Samples(
        example=lambda action: Tag.objects.create(name=f"walk-{_seq()}"),
        add_data=lambda: {"name": f"walk-new-{_seq()}"},
        change_data=lambda tag: {"name": f"{tag.name}-renamed"},
        action_data={"delete_tags": lambda tag: {"reason": "walk: duplicate"}},
    ),
    "core.loginfailure": Samples(
        example=lambda action: LoginFailure.objects.create(username="walk", ip_address="10.0.0.1"),
        change_data=lambda f: {"username": "someone-else"},
    ),
    "core.auditevent": Samples(
        example=lambda action: audit_record(action="walk.sample", actor_label="system:walk"),
        change_data=lambda ev: {"note": "rewritten"},
    ),
    "core.auditcheck": Samples(
        example=lambda action: AuditCheck.objects.create(ok=True, checked=0),
        change_data=lambda check: {"ok": "", "reason": "forged"},
    ),
    "auth.user": Samples(
        example=_user,
        add_data=lambda: {
            "username": f"walk-new-{_seq()}",
            "password": "A-long-walk-pass-2026!",
            "roles": ["investigator"],
            "is_active": "on",
            "email": "",
            "first_name": "",
            "last_name": "",
        },
        change_data=_user_data,
    ),
    "auth.group": Samples(
        example=lambda action: Group.objects.get(name="auditor"),
        change_data=lambda group: {"name": "superusers"},
    ),
    "scoring.transaction": Samples(
        example=lambda action: TransactionFactory(),
        change_data=lambda t: {"amount": "1.00", "is_fraud": "true"},
    ),
    "scoring.apikey": Samples(
        example=lambda action: api_key_create(name=f"walk-key-{_seq()}")[0],
        change_data=lambda key: {"name": f"{key.name}-renamed"},
    ),
    "scoring.rule": Samples(
        example=_rule,
        add_data=_rule_data,
        change_data=lambda rule: _rule_data(name=rule.name, risk_floor=75),
    ),
    "scoring.modelversion": Samples(
        example=lambda action: ModelVersion.objects.create(
            version=f"walk-{_seq()}", algorithm="x", file_path="/nope"
        ),
        change_data=lambda mv: {"role": "champion"},
    ),
    "scoring.evaluationreport": Samples(
        example=lambda action: EvaluationReport.objects.create(
            holdout_share=0.2, rows=1, positives=0
        ),
    ),
    "scoring.driftreport": Samples(example=_drift),
    "scoring.workerheartbeat": Samples(
        example=lambda action: WorkerHeartbeat.objects.create(
            hostname=f"walk-{_seq()}", last_seen=timezone.now()
        ),
        change_data=lambda hb: {"hostname": hb.hostname, "last_seen": "2030-01-01 00:00:00"},
    ),
}


def _samples(label: str, rule: ModelRule) -> Samples | None:
    if rule.example is not None:
        return Samples(
            example=rule.example,
            add_data=rule.add_data,
            change_data=rule.change_data,
            action_data=dict(rule.action_data),
        )
    return SAMPLES.get(label)


def test_every_registered_model_has_an_admin_rule_and_samples():
    missing = [label for label in REGISTERED if label not in ADMIN_RULES]
    assert not missing, f"Registered in the admin without an admin rule: {missing}"
    plain = [
        m._meta.label_lower
        for m, ma in admin.site._registry.items()
        if not isinstance(ma, RoleModelAdmin)
    ]
    assert not plain, f"ModelAdmins not deriving their permissions from a rule: {plain}"
    unwalkable = [label for label in REGISTERED if _samples(label, ADMIN_RULES[label]) is None]
    assert not unwalkable, f"Admin rules without samples for the walk: {unwalkable}"
    stale = sorted(set(ADMIN_RULES) - set(REGISTERED))
    assert not stale, f"Admin rules for models no longer registered: {stale}"


@pytest.fixture
def walkers(make_user):
    users = {role: make_user(role, f"walker-{role}") for role in ROLES}
    users["admin"].is_superuser = True  # as seed_demo makes it: Django would allow everything
    users["admin"].save(update_fields=["is_superuser"])
    return users


def _state(model, obj) -> tuple:
    """What a refused write must leave untouched."""
    snapshot = None
    if obj is not None:
        fresh = model._default_manager.filter(pk=obj.pk).first()
        snapshot = model_to_dict(fresh) if fresh is not None else None
        if fresh is not None and hasattr(fresh, "groups"):
            snapshot["groups"] = sorted(fresh.groups.values_list("name", flat=True))
    return (
        model._default_manager.count(),
        snapshot,
        AuditEvent.objects.count(),
        Note.objects.count(),
        Tag.objects.count(),
    )


def _new_actions(since: int) -> set[str]:
    return set(AuditEvent.objects.filter(id__gt=since).values_list("action", flat=True))


def _last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


class Walk:
    def __init__(self, label: str, walkers):
        self.model = apps.get_model(label)
        self.admin = admin.site._registry[self.model]
        self.rule = ADMIN_RULES[label]
        self.samples = _samples(label, self.rule)
        self.walkers = walkers
        self.problems: list[str] = []
        info = (self.model._meta.app_label, self.model._meta.model_name)
        self.url = {
            op: f"admin:{info[0]}_{info[1]}_{op}"
            for op in ("changelist", "add", "change", "delete")
        }

    def client(self, role: str) -> Client:
        client = Client()
        client.force_login(self.walkers[role])
        return client

    def attempt(self, role, what, write, obj, post: Callable[[], object]) -> None:
        """POST; an allowed role must leave one of the write's audit codes, a refused one must
        change nothing."""
        allowed = write is not None and role in write.roles
        before, since = _state(self.model, obj), _last_id()
        response = post()
        actions = _new_actions(since)
        if allowed:
            if not actions or not actions <= set(write.audit):
                messages = [m.message for m in getattr(response, "context", None) or []]
                self.problems.append(
                    f"{role} {what}: expected audit {write.audit}, got {sorted(actions)} "
                    f"(HTTP {response.status_code}) {messages}"
                )
        elif _state(self.model, obj) != before or actions:
            self.problems.append(f"{role} {what}: refused write changed something {actions}")
        elif response.status_code >= 500:
            self.problems.append(f"{role} {what}: HTTP {response.status_code}")

    def run(self) -> list[str]:
        for role in ROLES:
            self.walk_role(role)
        return self.problems

    def walk_role(self, role: str) -> None:
        client, rule, samples = self.client(role), self.rule, self.samples
        readers = rule.view | rule.writers()
        listing = client.get(reverse(self.url["changelist"]))
        expected = 200 if role in readers else 403
        if listing.status_code != expected:
            self.problems.append(f"{role} list: expected {expected}, got {listing.status_code}")
        obj = samples.example(None)
        if role in readers:
            detail = client.get(reverse(self.url["change"], args=[obj.pk]))
            if detail.status_code != 200:
                self.problems.append(f"{role} detail: HTTP {detail.status_code}")
        # add
        if rule.add is not None and samples.add_data is None:
            self.problems.append("add is allowed but the samples have no add_data")
        add_data = samples.add_data() if samples.add_data else {}
        self.attempt(
            role, "add", rule.add, None, lambda: client.post(reverse(self.url["add"]), add_data)
        )
        # change
        obj = samples.example(None)
        change_data = samples.change_data(obj) if samples.change_data else {}
        self.attempt(
            role,
            "change",
            rule.change,
            obj,
            lambda: client.post(reverse(self.url["change"], args=[obj.pk]), change_data),
        )
        # delete (the view, and Django's bulk delete action)
        obj = samples.example(None)
        self.attempt(
            role,
            "delete",
            rule.delete,
            obj,
            lambda: client.post(reverse(self.url["delete"], args=[obj.pk]), {"post": "yes"}),
        )
        names = {name for _, name, _ in self.admin._get_base_actions()}
        for name in sorted(names | set(rule.actions)):
            obj = samples.example(name)
            data = samples.action_data.get(name, lambda o: {})(obj)
            payload = {"action": name, "_selected_action": [obj.pk], "apply": "1", **data}
            self.attempt(
                role,
                f"action {name}",
                rule.actions.get(name),
                obj,
                lambda payload=payload: client.post(reverse(self.url["changelist"]), payload),
            )


@pytest.mark.parametrize("label", REGISTERED)
def test_admin_walk(label, walkers, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "private"
    assert label in ADMIN_RULES, f"{label} is registered in the admin without an admin rule"
    walk = Walk(label, walkers)
    assert walk.samples is not None, f"{label}: no samples to walk its admin with"
    problems = walk.run()
    assert not problems, f"{label}:\n" + "\n".join(problems)


def _messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def test_a_refused_service_write_is_an_admin_message_and_changes_nothing(walkers):
    client = Client()
    client.force_login(walkers["admin"])
    data = _rule_data(expression="amount >>> 1")
    response = client.post(reverse("admin:scoring_rule_add"), data, follow=True)
    assert response.status_code == 200
    assert any("syntax" in m.lower() for m in _messages(response)), _messages(response)
    assert not Rule.objects.filter(name=data["name"]).exists()
    assert not AuditEvent.objects.filter(action="rule.create").exists()


def test_four_eyes_refusals_show_in_the_admin(walkers):
    """A supervisor who worked a critical case only requests its closure, and cannot approve
    that request, from the admin either."""
    case = CaseFactory(
        priority="critical", risk_level="critical", risk_score=95, assignee=walkers["supervisor"]
    )
    client = Client()
    client.force_login(walkers["supervisor"])
    changelist = reverse("admin:fraudcases_case_changelist")
    response = client.post(
        changelist,
        {
            "action": "wf_close",
            "_selected_action": [case.pk],
            "apply": "1",
            "disposition": "fraud_confirmed",
            "note": "mule",
        },
        follow=True,
    )
    case.refresh_from_db()
    assert case.status == Case.Status.PENDING_APPROVAL, _messages(response)
    assert any("four-eyes" in m.lower() or "approve" in m.lower() for m in _messages(response))
    since = _last_id()
    response = client.post(
        changelist,
        {"action": "wf_approve", "_selected_action": [case.pk], "apply": "1", "note": ""},
        follow=True,
    )
    case.refresh_from_db()
    assert case.status == Case.Status.PENDING_APPROVAL
    assert any("different supervisor" in m for m in _messages(response))
    assert not _new_actions(since)


def test_the_intermediate_form_asks_before_acting(walkers):
    case = CaseFactory()
    client = Client()
    client.force_login(walkers["investigator"])
    response = client.post(
        reverse("admin:fraudcases_case_changelist"),
        {"action": "wf_escalate", "_selected_action": [case.pk]},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="reason"' in body and 'name="apply"' in body
    case.refresh_from_db()
    assert case.status == Case.Status.NEW


def test_changing_ones_password_in_the_admin_is_audited(walkers):
    client = Client()
    client.force_login(walkers["investigator"])
    response = client.post(
        reverse("admin:password_change"),
        {
            "old_password": "pw-for-tests-only",
            "new_password1": "A-new-long-pass-2026!",
            "new_password2": "A-new-long-pass-2026!",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.password_change")
    assert event.actor == walkers["investigator"] and event.after is None
    walkers["investigator"].refresh_from_db()
    assert walkers["investigator"].check_password("A-new-long-pass-2026!")
