"""Routing rules: create and change them (admins, audited)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from core.audit import audit_record
from core.errors import ApplicationError
from core.permissions import ensure_allowed
from fraudcases.models import Case, CaseQueue
from scoring.engine.explain import REASON_LABELS
from scoring.models import RiskLevel, Rule

from ..models import AlertRule, Channel

User = AbstractBaseUser

RULE_FIELDS = (
    "name",
    "description",
    "min_risk_level",
    "priorities",
    "reason_codes",
    "fired_rules",
    "min_amount",
    "queue",
    "is_active",
)


def _snapshot(rule: AlertRule, channels: list[Channel] | None = None) -> dict[str, Any]:
    data = {f: getattr(rule, f) for f in RULE_FIELDS}
    data["min_amount"] = None if rule.min_amount is None else f"{rule.min_amount:.2f}"
    data["channels"] = sorted(c.name for c in (channels if channels is not None else []))
    return data


def _clean(data: dict[str, Any], channels: list[Channel]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = ["A rule needs a name."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if data.get("min_risk_level") not in RiskLevel.values:
        errors["min_risk_level"] = [f"One of: {', '.join(RiskLevel.values)}."]
    priorities = list(data.get("priorities") or [])
    if set(priorities) - set(Case.Priority.values):
        errors["priorities"] = [f"Priorities are: {', '.join(Case.Priority.values)}."]
    codes = list(data.get("reason_codes") or [])
    unknown = [c for c in codes if c not in REASON_LABELS]
    if unknown:
        errors["reason_codes"] = [f"Unknown reason code(s): {', '.join(unknown)}."]
    fired = [n.strip() for n in data.get("fired_rules") or [] if n.strip()]
    known = set(Rule.objects.filter(name__in=fired).values_list("name", flat=True))
    missing = sorted(set(fired) - known)
    if missing:
        errors["fired_rules"] = [f"No detection rule named: {', '.join(missing)}."]
    amount = data.get("min_amount")
    if amount not in (None, ""):
        try:
            amount = Decimal(str(amount))
        except InvalidOperation:
            errors["min_amount"] = ["Not a number."]
        else:
            if amount < 0 or amount != amount.quantize(Decimal("0.01")):
                errors["min_amount"] = ["A positive amount with at most 2 decimals."]
    else:
        amount = None
    queue = (data.get("queue") or "").strip()
    if queue and not CaseQueue.objects.filter(name=queue).exists():
        errors["queue"] = [f"No case queue is called '{queue}' (the admin's case queues)."]
    if not channels:
        errors["channels"] = ["Choose at least one channel."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(first, extra=errors)
    return {
        "name": name,
        "description": (data.get("description") or "").strip()[:300],
        "min_risk_level": data["min_risk_level"],
        "priorities": sorted(set(priorities), key=Case.Priority.values.index),
        "reason_codes": sorted(set(codes)),
        "fired_rules": sorted(set(fired)),
        "min_amount": amount,
        "queue": queue,
        "is_active": bool(data.get("is_active", True)),
    }


def _save_unique(rule: AlertRule) -> None:
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise ApplicationError(
            f"A routing rule named '{rule.name}' already exists.",
            extra={"name": ["A routing rule with this name already exists."]},
        ) from None


@transaction.atomic
def alert_rule_create(
    *,
    actor: User,
    name: str,
    channels: list[Channel],
    min_risk_level: str = RiskLevel.HIGH,
    priorities: list[str] | None = None,
    reason_codes: list[str] | None = None,
    fired_rules: list[str] | None = None,
    min_amount: Decimal | str | None = None,
    queue: str = "",
    description: str = "",
    is_active: bool = True,
) -> AlertRule:
    """Add a routing rule sending matching cases to ``channels``."""
    ensure_allowed(actor, "alerts.manage")
    channels = list(channels)
    data = _clean(
        {
            "name": name,
            "description": description,
            "min_risk_level": min_risk_level,
            "priorities": priorities,
            "reason_codes": reason_codes,
            "fired_rules": fired_rules,
            "min_amount": min_amount,
            "queue": queue,
            "is_active": is_active,
        },
        channels,
    )
    rule = AlertRule(**data)
    _save_unique(rule)
    rule.channels.set(channels)
    audit_record(
        action="alerts.rule_create", actor=actor, obj=rule, after=_snapshot(rule, channels)
    )
    return rule


@transaction.atomic
def alert_rule_update(
    *, actor: User, rule: AlertRule, channels: list[Channel] | None = None, **changes
) -> AlertRule:
    """Change a routing rule (any of ``RULE_FIELDS``, and its channels)."""
    ensure_allowed(actor, "alerts.manage")
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown rule field(s): {', '.join(sorted(unknown))}.")
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    current_channels = list(rule.channels.all())
    before = _snapshot(rule, current_channels)
    new_channels = list(channels) if channels is not None else current_channels
    merged = {f: getattr(rule, f) for f in RULE_FIELDS} | changes
    data = _clean(merged, new_channels)
    for key, value in data.items():
        setattr(rule, key, value)
    after = _snapshot(rule, new_channels)
    if after == before:
        return rule
    _save_unique(rule)
    rule.channels.set(new_channels)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    audit_record(
        action="alerts.rule_update",
        actor=actor,
        obj=rule,
        before={k: before[k] for k in changed},
        after=changed,
    )
    return rule
