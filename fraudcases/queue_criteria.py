"""Queue criteria: the small, validated JSON filter that decides which queue a new case lands in.

A queue's ``criteria`` is an object whose keys are all optional and all must hold (AND); a list
value matches when any of its items does (OR). An empty object matches every case.

======================  =========================================================================
key                     matches when
======================  =========================================================================
``priority``            the case's priority is one of the list (``low`` … ``critical``)
``risk_level``          the case's risk level is one of the list
``risk_min``            the case's risk score ≥ the number (0–100)
``risk_max``            the case's risk score ≤ the number (0–100)
``amount_min``          the case total (amount at risk in ``DEFAULT_CURRENCY``) ≥ the amount
``amount_max``          the case total ≤ the amount
``reason_codes``        a transaction of the case has one of these reason codes (``velocity``,
                        ``new_device``, … or ``rule:<rule name>``)
``channel``             a transaction of the case came through one of these channels
``merchant_category``   a transaction of the case is at a merchant of one of these categories
``country``             a transaction of the case is from one of these countries (ISO alpha-2)
======================  =========================================================================

:func:`criteria_errors` names every problem (``risk_min: must be a number from 0 to 100``);
:func:`validate_queue_criteria` is the model field's validator (a bad definition is a form error
in the admin); :func:`criteria_match` evaluates a definition against the facts of one case in
memory (no query: the routing service loads the facts of a whole batch at once). This module
reads no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from scoring.engine.explain import REASON_LABELS, RULE_PREFIX

PRIORITIES = ("low", "medium", "high", "critical")
LIST_KEYS = ("priority", "risk_level", "reason_codes", "channel", "merchant_category", "country")
RISK_KEYS = ("risk_min", "risk_max")
AMOUNT_KEYS = ("amount_min", "amount_max")
CRITERIA_KEYS = LIST_KEYS + RISK_KEYS + AMOUNT_KEYS
MAX_ITEMS = 100


@dataclass(frozen=True)
class CaseFacts:
    """What routing knows about a case when it opens: its own fields and the union of its
    transactions' reason codes, channels, merchant categories and countries."""

    priority: str
    risk_level: str
    risk_score: float
    amount: Decimal
    reason_codes: frozenset[str] = field(default_factory=frozenset)
    channel: frozenset[str] = field(default_factory=frozenset)
    merchant_category: frozenset[str] = field(default_factory=frozenset)
    country: frozenset[str] = field(default_factory=frozenset)


def _reason_code_ok(code: str) -> bool:
    return code in REASON_LABELS or (code.startswith(RULE_PREFIX) and len(code) > len(RULE_PREFIX))


def _list_errors(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        return [f"{key}: must be a non-empty list of strings"]
    if len(value) > MAX_ITEMS:
        return [f"{key}: at most {MAX_ITEMS} items"]
    errors = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            errors.append(f"{key}: {item!r} is not a non-empty string")
        elif key in ("priority", "risk_level") and item not in PRIORITIES:
            errors.append(f"{key}: {item!r} is not one of {', '.join(PRIORITIES)}")
        elif key == "reason_codes" and not _reason_code_ok(item):
            known = ", ".join(sorted(REASON_LABELS))
            errors.append(f"reason_codes: unknown code {item!r} (known: {known}, or rule:<name>)")
        elif key == "country" and not (len(item) == 2 and item.isalpha() and item.isupper()):
            errors.append(f"country: {item!r} is not an ISO 3166 alpha-2 code such as GB")
    return errors


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def criteria_errors(criteria: Any) -> list[str]:
    """Every problem with a criteria definition, one message per problem (empty when valid)."""
    if not isinstance(criteria, dict):
        return ['The criteria must be a JSON object, e.g. {"reason_codes": ["velocity"]}.']
    errors = [
        f"{key}: unknown key (known: {', '.join(CRITERIA_KEYS)})"
        for key in criteria
        if key not in CRITERIA_KEYS
    ]
    for key in LIST_KEYS:
        if key in criteria:
            errors += _list_errors(key, criteria[key])
    bounds: dict[str, Decimal] = {}
    for key in RISK_KEYS + AMOUNT_KEYS:
        if key not in criteria:
            continue
        number = _number(criteria[key])
        top = Decimal(100) if key in RISK_KEYS else None
        if number is None or number < 0 or (top is not None and number > top):
            what = "a number from 0 to 100" if top is not None else "an amount of at least 0"
            errors.append(f"{key}: must be {what}")
        else:
            bounds[key] = number
    for lo, hi in (RISK_KEYS, AMOUNT_KEYS):
        if lo in bounds and hi in bounds and bounds[lo] > bounds[hi]:
            errors.append(f"{hi}: must be at least {lo}")
    return errors


def validate_queue_criteria(value: Any) -> None:
    """Model field validator: raise ``ValidationError`` naming every problem."""
    errors = criteria_errors(value)
    if errors:
        raise ValidationError(errors, code="invalid_criteria")


def criteria_match(criteria: dict[str, Any], facts: CaseFacts) -> bool:
    """True when the case described by ``facts`` meets every key of a *valid* definition."""
    for key in ("priority", "risk_level"):
        if key in criteria and getattr(facts, key) not in criteria[key]:
            return False
    for key in ("reason_codes", "channel", "merchant_category", "country"):
        if key in criteria and not getattr(facts, key) & set(criteria[key]):
            return False
    score = Decimal(str(facts.risk_score))
    checks = (
        ("risk_min", score, 1),
        ("risk_max", score, -1),
        ("amount_min", facts.amount, 1),
        ("amount_max", facts.amount, -1),
    )
    for key, actual, sign in checks:
        if key in criteria and (actual - Decimal(str(criteria[key]))) * sign < 0:
            return False
    return True


def criteria_summary(criteria: dict[str, Any]) -> str:
    """The definition in one line for people (admin list, audit notes): ``reason_codes: velocity,
    new_device; risk_min: 80``; ``every case`` when empty."""
    parts = []
    for key in CRITERIA_KEYS:
        if key in criteria:
            value = criteria[key]
            parts.append(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    return "; ".join(parts) or "every case"
