"""factory_boy factories, one per model of our apps (``FACTORIES``; the project tests check that
none is missing and that each one makes a valid row)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from alerts.models import (
    AlertRule,
    Channel,
    Delivery,
    DeliveryAttempt,
    DispatchCursor,
    DispatchedEvent,
    EventType,
)
from core.audit import audit_record
from core.models import AuditCheck, AuditEvent, LoginFailure
from fraudcases.models import (
    AccountAction,
    Attachment,
    Case,
    CaseQueue,
    CaseTransaction,
    InvestigatorDuty,
    Note,
    QAReview,
    QueueMembership,
    Tag,
)
from fraudcases.rollup_models import (
    CaseDayRollup,
    CaseFact,
    CaseLinkFact,
    FlaggedCellRollup,
    FlaggedHourRollup,
    RollupDirtyCase,
    RollupDirtyDay,
    RollupState,
    TopValueRollup,
    TransactionDayRollup,
)
from scoring.models import (
    ApiKey,
    DriftReport,
    EvaluationReport,
    ModelVersion,
    Rule,
    Transaction,
    WorkerHeartbeat,
)


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


# --- People ---------------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    """A person without a role; ``UserFactory(role="supervisor")`` puts them in that group."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person-{n:04d}")
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


# --- The kernel (core) ----------------------------------------------------------------------------


class AuditEventFactory(factory.Factory):
    """An audit event appended through the chain (``audit_record``): the log is append-only, so
    there is no other way to make one."""

    class Meta:
        model = AuditEvent

    action = "case.note"
    actor_label = "system"
    note = factory.Sequence(lambda n: f"event {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return audit_record(**kwargs)

    _build = _create


class AuditCheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditCheck

    ok = True
    checked = 0


class LoginFailureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoginFailure

    username = "someone"
    ip_address = "192.0.2.10"


# --- Cases ----------------------------------------------------------------------------------------


class CaseTransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseTransaction

    case = factory.SubFactory(CaseFactory, transactions=0)
    transaction = factory.SubFactory(
        TransactionFactory, account_id=factory.SelfAttribute("..case.account_id")
    )


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    case = factory.SubFactory(CaseFactory)
    author = factory.SubFactory(UserFactory, role="investigator")
    body = "Called the cardholder: they did not make these payments."


class AttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attachment

    case = factory.SubFactory(CaseFactory)
    uploaded_by = factory.SubFactory(UserFactory, role="investigator")
    file = factory.django.FileField(filename="statement.txt", data=b"statement")
    original_name = "statement.txt"
    content_type = "text/plain"
    size = 9
    sha256 = factory.LazyFunction(lambda: hashlib.sha256(b"statement").hexdigest())


class QAReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QAReview

    case = factory.SubFactory(CaseFactory)
    closed_at = factory.LazyFunction(timezone.now)
    disposition = Case.Disposition.LEGITIMATE
    sample_reason = QAReview.Reason.RANDOM


# --- Scoring --------------------------------------------------------------------------------------


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key row (its plaintext is not known: use the ``api_key`` fixture to call the API)."""

    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"system-{n}")
    prefix = factory.Sequence(lambda n: f"k{n:07d}")
    key_hash = factory.Sequence(lambda n: hashlib.sha256(f"key-{n}".encode()).hexdigest())


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registry row (no artifact file behind it: the ``trained_model`` fixture makes one)."""

    class Meta:
        model = ModelVersion

    version = factory.Sequence(lambda n: f"v-test-{n:04d}")
    algorithm = "test"
    file_path = factory.LazyAttribute(lambda o: f"models/{o.version}.joblib")
    sha256 = "0" * 64
    feature_names = factory.LazyFunction(lambda: ["amount_vs_median_30d", "tx_count_1h"])
    training_summary = factory.LazyFunction(lambda: {"rows": 1000, "positives": 20})
    metrics = factory.LazyFunction(lambda: {"average_precision": 0.9})


class WorkerHeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkerHeartbeat

    hostname = factory.Sequence(lambda n: f"celery@worker-{n}")
    last_seen = factory.LazyFunction(timezone.now)


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"rule-{n}")
    expression = "amount > 10000"


class EvaluationReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationReport

    holdout_share = 0.3
    rows = 100
    positives = 5
    report = factory.LazyFunction(lambda: {"candidate": {"average_precision": 0.9}})


class DriftReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DriftReport

    reference_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=14))
    reference_end = factory.LazyFunction(lambda: timezone.now() - timedelta(days=7))
    current_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=7))
    current_end = factory.LazyFunction(timezone.now)
    feature_psi = factory.LazyFunction(lambda: {"amount": 0.01})


# --- Alerts ---------------------------------------------------------------------------------------


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = Channel.Kind.EMAIL
    target = "fraud-team@example.com"
    events = factory.LazyFunction(lambda: [EventType.OPENED])


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"alert-rule-{n}")

    @factory.post_generation
    def channels(self, create, extracted, **kwargs):
        if create:
            self.channels.set(extracted if extracted is not None else [ChannelFactory()])


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    idempotency_key = factory.Sequence(lambda n: f"test-delivery-{n}")
    channel = factory.SubFactory(ChannelFactory)
    event_type = EventType.TEST
    scheduled_for = factory.LazyFunction(timezone.now)
    next_attempt_at = factory.LazyFunction(timezone.now)


class DeliveryAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryAttempt

    delivery = factory.SubFactory(DeliveryFactory)
    number = 1
    started_at = factory.LazyFunction(timezone.now)


class DispatchedEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DispatchedEvent

    event = factory.SubFactory(AuditEventFactory)


class DispatchCursorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DispatchCursor
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"cursor-{n}")


# --- Routing, account actions -------------------------------------------------------------------


class CaseQueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseQueue

    name = factory.Sequence(lambda n: f"queue-{n}")


class QueueMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueMembership

    queue = factory.SubFactory(CaseQueueFactory)
    user = factory.SubFactory(UserFactory, role="investigator")


class InvestigatorDutyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvestigatorDuty

    user = factory.SubFactory(UserFactory, role="investigator")


class AccountActionFactory(factory.django.DjangoModelFactory):
    """A request as the service leaves it for a kind that needs approval (use the service,
    ``account_action_request``, to test the flow)."""

    class Meta:
        model = AccountAction

    case = factory.SubFactory(CaseFactory)
    kind = AccountAction.Kind.HOLD_PAYMENTS
    account_id = factory.SelfAttribute("case.account_id")
    reason = "Mule pattern: hold outgoing payments"
    status = AccountAction.Status.AWAITING_APPROVAL
    requested_by = factory.SubFactory(UserFactory, role="investigator")
    needs_approval = True


# --- Dashboard rollups (derived tables; the fold in fraudcases/reporting/rollup.py fills them) ---


def _rollup_factory(model, **fields):
    """A factory for one rollup table: one day, the overall grain, with ``fields``."""
    attrs = {
        "Meta": type("Meta", (), {"model": model}),
        "day": factory.LazyFunction(lambda: timezone.localdate()),
        "detail": False,
        "n": 1,
        **fields,
    }
    return type(f"{model.__name__}Factory", (factory.django.DjangoModelFactory,), attrs)


TransactionDayRollupFactory = _rollup_factory(TransactionDayRollup, flagged=1, labelled=1, fraud=0)
FlaggedHourRollupFactory = _rollup_factory(FlaggedHourRollup, weekday=0, hour=9)
FlaggedCellRollupFactory = _rollup_factory(FlaggedCellRollup, lat=40.0, lon=-74.0)
TopValueRollupFactory = _rollup_factory(
    TopValueRollup, kind="merchant", value="m-1", labelled=1, fraud=0
)


class RollupStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RollupState
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"state-{n}")


class RollupDirtyDayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RollupDirtyDay

    day = factory.LazyFunction(lambda: timezone.localdate())


class RollupDirtyCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RollupDirtyCase

    case_id = factory.Sequence(lambda n: n + 1)


class CaseLinkFactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseLinkFact

    transaction_id = factory.Sequence(lambda n: n + 1)
    case = factory.SubFactory(CaseFactory)
    amount = Decimal("125.50")
    currency = "USD"


class CaseFactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseFact

    case = factory.SubFactory(CaseFactory)


class CaseDayRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseDayRollup

    day = factory.LazyFunction(lambda: timezone.localdate())
    kind = "opened"
    n = 1


# One factory per model of our apps (tests/project/test_factories.py checks none is missing).
FACTORIES = {
    factory_class._meta.model: factory_class
    for factory_class in (
        UserFactory,
        AuditEventFactory,
        AuditCheckFactory,
        LoginFailureFactory,
        CaseFactory,
        CaseTransactionFactory,
        TagFactory,
        NoteFactory,
        AttachmentFactory,
        QAReviewFactory,
        TransactionFactory,
        ApiKeyFactory,
        ModelVersionFactory,
        WorkerHeartbeatFactory,
        RuleFactory,
        EvaluationReportFactory,
        DriftReportFactory,
        ChannelFactory,
        AlertRuleFactory,
        DeliveryFactory,
        DeliveryAttemptFactory,
        DispatchedEventFactory,
        DispatchCursorFactory,
        CaseQueueFactory,
        QueueMembershipFactory,
        InvestigatorDutyFactory,
        AccountActionFactory,
        TransactionDayRollupFactory,
        FlaggedHourRollupFactory,
        FlaggedCellRollupFactory,
        TopValueRollupFactory,
        RollupStateFactory,
        RollupDirtyDayFactory,
        RollupDirtyCaseFactory,
        CaseLinkFactFactory,
        CaseFactFactory,
        CaseDayRollupFactory,
    )
}
