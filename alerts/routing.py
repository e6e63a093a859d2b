"""Routing decisions as plain functions (no database): does a rule match a case, is a channel in
its quiet hours, how long to wait before the next retry. Dispatch, the rule preview and the tests
all use these, so there is one definition of each decision."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LEVEL_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass(frozen=True)
class CaseFacts:
    """What routing looks at in a case (read once per case by ``selectors.case_facts``)."""

    case_id: int
    risk_level: str
    priority: str
    reason_codes: frozenset[str] = field(default_factory=frozenset)
    max_amount: Decimal | None = None
    queue: str = ""


def rule_matches(rule, facts: CaseFacts) -> bool:
    """True when every criterion of ``rule`` (an ``AlertRule`` or anything with its fields)
    holds for the case; empty criteria match everything."""
    if LEVEL_RANK.get(facts.risk_level, 0) < LEVEL_RANK.get(rule.min_risk_level, 99):
        return False
    if rule.priorities and facts.priority not in rule.priorities:
        return False
    if rule.reason_codes and not set(rule.reason_codes) & facts.reason_codes:
        return False
    if rule.fired_rules and not {f"rule:{name}" for name in rule.fired_rules} & facts.reason_codes:
        return False
    if rule.min_amount is not None and (
        facts.max_amount is None or facts.max_amount < rule.min_amount
    ):
        return False
    return not (rule.queue and facts.queue != rule.queue)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``ValueError`` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"Unknown time zone {name!r} (use an IANA name such as Europe/Paris)."
        ) from exc


def quiet_until(
    *, start: time | None, end: time | None, tz_name: str, at: datetime
) -> datetime | None:
    """When quiet hours ``start``-``end`` (local time in ``tz_name``; may span midnight) are on
    at ``at``, the moment they end (aware); otherwise ``None``."""
    if start is None or end is None or start == end:
        return None
    tz = zone(tz_name)
    local = at.astimezone(tz)
    now = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= now < end:
            return None
        day = local.date()
    else:  # e.g. 22:00-07:00
        if end <= now < start:
            return None
        day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz)


def suppressed_by_quiet_hours(channel, *, priority: str, at: datetime) -> datetime | None:
    """The end of the channel's quiet hours if a case of ``priority`` must wait for it."""
    until = quiet_until(
        start=channel.quiet_start, end=channel.quiet_end, tz_name=channel.quiet_timezone, at=at
    )
    if until is None:
        return None
    if priority == "critical" and channel.critical_overrides_quiet:
        return None
    return until


def retry_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential
    (``base``·2^(attempt-1), at most ``cap``) with jitter in its upper half, so receivers
    recovering from an outage are not hit by every sender at the same instant."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)
