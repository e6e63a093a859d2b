"""factory_boy factories for the case domain (used by the workflow, page, API and audit tests)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from fraudcases.models import Case, CaseTransaction
from scoring.models import Transaction


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    external_id = factory.Sequence(lambda n: f"txn-{n:06d}")
    account_id = "acct-1"
    amount = Decimal("125.50")
    currency = "USD"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    merchant_id = factory.Sequence(lambda n: f"m-{n % 7}")
    merchant_category = "electronics"
    channel = "web"
    country = "US"
    device_id = "dev-1"
    counterparty_id = ""
    status = Transaction.Status.SCORED
    risk_score = 85
    risk_level = "high"
    reasons = factory.LazyFunction(
        lambda: [
            {
                "code": "velocity",
                "detail": "9 earlier transactions in the last hour",
                "weight": 0.3,
            },
            {"code": "new_device", "detail": "first device dev-1 for this account", "weight": 0.1},
        ]
    )
    scored_at = factory.LazyFunction(timezone.now)


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case
        skip_postgeneration_save = True

    account_id = factory.Sequence(lambda n: f"acct-{n:04d}")
    title = factory.LazyAttribute(lambda o: f"High risk on {o.account_id}: velocity burst")
    priority = "high"
    risk_level = "high"
    risk_score = 80
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=24))

    @factory.post_generation
    def transactions(self, create, extracted, **kwargs):
        """``CaseFactory(transactions=2)`` links two new scored transactions of the account."""
        if not create:
            return
        for _ in range(extracted if extracted is not None else 1):
            txn = TransactionFactory(account_id=self.account_id, risk_score=self.risk_score)
            CaseTransaction.objects.create(case=self, transaction=txn)
