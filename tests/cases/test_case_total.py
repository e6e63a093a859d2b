"""``Case.transactions_total`` (the queue's "Case total", sorted on by ``sort=amount``): kept by
database triggers on the links, whatever writes them, and never written back stale by a save."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from fraudcases.models import Case, CaseTransaction
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db(transaction=False)


def total(case: Case) -> Decimal:
    return Case.objects.values_list("transactions_total", flat=True).get(pk=case.pk)


def test_linking_and_unlinking_keep_the_total():
    case = CaseFactory(transactions=0)
    first = TransactionFactory(account_id=case.account_id, amount=Decimal("100.25"))
    second = TransactionFactory(account_id=case.account_id, amount=Decimal("20.50"))
    assert total(case) == 0
    CaseTransaction.objects.create(case=case, transaction=first)
    assert total(case) == Decimal("100.25")
    CaseTransaction.objects.create(case=case, transaction=second)
    assert total(case) == Decimal("120.75")
    CaseTransaction.objects.filter(transaction=first).delete()
    assert total(case) == Decimal("20.50")


def test_one_bulk_statement_over_several_cases_and_a_move_between_cases():
    a, b = CaseFactory(transactions=0), CaseFactory(transactions=0)
    txns = [TransactionFactory(amount=Decimal(v)) for v in ("1.00", "2.00", "4.00")]
    CaseTransaction.objects.bulk_create(
        [
            CaseTransaction(case=a, transaction=txns[0]),
            CaseTransaction(case=a, transaction=txns[1]),
            CaseTransaction(case=b, transaction=txns[2]),
        ]
    )
    assert (total(a), total(b)) == (Decimal("3.00"), Decimal("4.00"))
    # What a merge does: every link of one case moves to the other in one UPDATE.
    CaseTransaction.objects.filter(case=a).update(case=b)
    assert (total(a), total(b)) == (Decimal("0.00"), Decimal("7.00"))


def test_saving_a_case_read_before_a_link_does_not_write_its_stale_total_back():
    case = CaseFactory(transactions=1)
    stale = Case.objects.get(pk=case.pk)
    before = stale.transactions_total
    CaseTransaction.objects.create(
        case=case, transaction=TransactionFactory(amount=Decimal("50.00"))
    )
    stale.title = "Renamed"
    stale.save()
    stale.refresh_from_db()
    assert stale.title == "Renamed"
    assert stale.transactions_total == before + Decimal("50.00")


def test_the_queue_sorts_by_the_case_total():
    supervisor = User.objects.create_user("sorting-supervisor")
    supervisor.groups.add(Group.objects.get_or_create(name="supervisor")[0])
    cases = []
    for amount in ("30.00", "500.00", "7.00"):
        case = CaseFactory(transactions=0)
        CaseTransaction.objects.create(
            case=case,
            transaction=TransactionFactory(account_id=case.account_id, amount=Decimal(amount)),
        )
        cases.append(case)
    client = Client()
    client.force_login(supervisor)
    for sort, expected in (("-amount", [1, 0, 2]), ("amount", [2, 0, 1])):
        page = client.get(f"/cases/?sort={sort}").context["page"]
        assert [c.pk for c in page] == [cases[i].pk for i in expected]
