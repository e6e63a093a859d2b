"""Detection rules: creating and editing them (admins, audited) and previewing one on recent
traffic before it goes live."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from core.audit import audit_record
from core.errors import ApplicationError
from core.permissions import ensure_allowed

from ..engine.rules import CompiledRule, RuleError, compile_rule, rule_evaluate
from ..models import Rule
from ..selectors import champion_model, rule_preview_frame

RULE_FIELDS = ("name", "expression", "risk_floor", "reason", "is_active")


def _extra_features() -> list[str]:
    # Features the champion was trained with (e.g. partner metadata keys) may be used in rules.
    champion = champion_model()
    return list(champion.feature_names) if champion is not None else []


def _validate(*, name: str, expression: str, risk_floor: int) -> str:
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["A rule needs a name."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if not 0 <= int(risk_floor) <= 100:
        errors["risk_floor"] = ["The risk floor is a score from 0 to 100."]
    compiled = None
    try:
        compiled = compile_rule(expression, extra_features=_extra_features())
    except RuleError as exc:
        errors["expression"] = [exc.message]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(first, extra=errors)
    return compiled.expression


def _compiled(expression: str) -> CompiledRule:
    """The rule engine's own error, as the application error (HTTP 400 / form error)."""
    try:
        return compile_rule(expression, extra_features=_extra_features())
    except RuleError as exc:
        raise ApplicationError(exc.message, extra={"expression": [exc.message]}) from None


def _snapshot(rule: Rule) -> dict:
    return {f: getattr(rule, f) for f in RULE_FIELDS}


@transaction.atomic
def rule_create(
    *,
    actor,
    name: str,
    expression: str,
    risk_floor: int,
    reason: str = "",
    is_active: bool = True,
) -> Rule:
    """Add a detection rule; it applies to transactions scored from now on."""
    ensure_allowed(actor, "rule.manage")
    expression = _validate(name=name, expression=expression, risk_floor=risk_floor)
    try:
        with transaction.atomic():
            rule = Rule.objects.create(
                name=name.strip(),
                expression=expression,
                risk_floor=risk_floor,
                reason=reason.strip(),
                is_active=is_active,
                created_by=actor,
            )
    except IntegrityError:
        raise ApplicationError(
            f"A rule named '{name.strip()}' already exists.",
            extra={"name": ["A rule with this name already exists."]},
        ) from None
    audit_record(action="rule.create", actor=actor, obj=rule, after=_snapshot(rule))
    return rule


@transaction.atomic
def rule_update(*, actor, rule: Rule, **changes) -> Rule:
    """Change a rule's fields (any of name, expression, risk_floor, reason, is_active)."""
    ensure_allowed(actor, "rule.manage")
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown rule field(s): {', '.join(sorted(unknown))}.")
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    before = _snapshot(rule)
    merged = before | changes
    merged["expression"] = _validate(
        name=merged["name"], expression=merged["expression"], risk_floor=merged["risk_floor"]
    )
    merged["name"] = merged["name"].strip()
    merged["reason"] = (merged["reason"] or "").strip()
    if merged == before:
        return rule
    if Rule.objects.filter(name=merged["name"]).exclude(pk=rule.pk).exists():
        raise ApplicationError(
            f"A rule named '{merged['name']}' already exists.",
            extra={"name": ["A rule with this name already exists."]},
        )
    for key, value in merged.items():
        setattr(rule, key, value)
    rule.save()
    changed = {k: v for k, v in _snapshot(rule).items() if before[k] != v}
    audit_record(
        action="rule.update",
        actor=actor,
        obj=rule,
        before={k: before[k] for k in changed},
        after=changed,
    )
    return rule


@dataclass
class RulePreview:
    """What a rule would have done on the last ``rows`` scored transactions."""

    rows: int
    fired: int
    raised: int  # fired and its floor is above the score the transaction got
    labelled: int  # fired and the truth is known
    fraud: int  # ... of which fraud
    sample: list[dict] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.fired / self.rows if self.rows else 0.0

    @property
    def precision(self) -> float | None:
        return self.fraud / self.labelled if self.labelled else None


def rule_preview(*, actor, expression: str, risk_floor: int, limit: int = 1000) -> RulePreview:
    """Evaluate ``expression`` on the last ``limit`` scored transactions (stored features)."""
    ensure_allowed(actor, "rule.manage")
    if not 1 <= limit <= settings.RULE_PREVIEW_MAX:
        raise ApplicationError(
            f"Preview between 1 and {settings.RULE_PREVIEW_MAX:,} transactions.",
            extra={"preview_limit": [f"Between 1 and {settings.RULE_PREVIEW_MAX:,}."]},
        )
    compiled = _compiled(expression)
    frame = rule_preview_frame(limit=limit)
    if frame.empty:
        return RulePreview(rows=0, fired=0, raised=0, labelled=0, fraud=0)
    try:
        mask = rule_evaluate(compiled, frame)
    except RuleError as exc:
        raise ApplicationError(exc.message, extra={"expression": [exc.message]}) from None
    scores = frame["risk_score"].to_numpy(dtype=float)
    labels = frame["label"].to_numpy(dtype=object)
    labelled = mask & np.array([v is not None and v == v for v in labels])
    fraud = labelled & np.array([bool(v) if v is not None and v == v else False for v in labels])
    fired = frame[mask].head(20)
    sample = [
        {
            "external_id": r.external_id,
            "account_id": r.account_id,
            "amount": r.amount,
            "currency": r.currency,
            "occurred_at": r.occurred_at,
            "risk_score": float(r.risk_score),
            "label": None if r.label is None or r.label != r.label else bool(r.label),
        }
        for r in fired.itertuples()
    ]
    return RulePreview(
        rows=len(frame),
        fired=int(mask.sum()),
        raised=int((mask & (scores < risk_floor)).sum()),
        labelled=int(labelled.sum()),
        fraud=int(fraud.sum()),
        sample=sample,
    )
