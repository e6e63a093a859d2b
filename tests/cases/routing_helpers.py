"""Routing test helpers: queues, risky transactions opening cases through the real opening
service, the people of a team."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from fraudcases import services
from fraudcases.models import Case, CaseQueue, QueueMembership
from tests.factories import TransactionFactory

_accounts = count(1)


def queue(name: str, position: int, criteria: dict | None = None, **fields) -> CaseQueue:
    return CaseQueue.objects.create(name=name, position=position, criteria=criteria or {}, **fields)


def default_queue() -> CaseQueue:
    """The default queue migration 0009 creates."""
    return CaseQueue.objects.get(is_default=True)


def member(q: CaseQueue, *users) -> None:
    for user in users:
        QueueMembership.objects.create(queue=q, user=user)


def person(name: str, role: str = "investigator"):
    user = get_user_model().objects.create_user(username=name, password="pw-for-tests-only")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def risky(*, codes=("velocity",), amount="100.00", risk=85.0, level="high", **fields):
    """A CaseHit for a fresh account with one scored transaction carrying ``codes``."""
    account = f"route-{next(_accounts):05d}"
    txn = TransactionFactory(
        account_id=account,
        amount=Decimal(amount),
        reasons=[{"code": c, "detail": c, "weight": 1.0} for c in codes],
        risk_score=risk,
        risk_level=level,
        **fields,
    )
    return services.CaseHit(
        account_id=account,
        transaction_ids=[txn.pk],
        risk_score=risk,
        risk_level=level,
        reasons=list(codes),
        model_version="test",
    )


def open_cases(*hits) -> list[Case]:
    """Open the hits' cases through the opening service (one batch); fresh from the database."""
    opened = services.cases_open_or_attach(hits=list(hits))
    return list(
        Case.objects.filter(pk__in=[c.pk for c in opened])
        .select_related("queue", "assignee")
        .order_by("id")
    )


def open_many(n: int, *, batch: int = 10, **kwargs) -> list[Case]:
    cases: list[Case] = []
    for start in range(0, n, batch):
        cases += open_cases(*(risky(**kwargs) for _ in range(min(batch, n - start))))
    return cases
