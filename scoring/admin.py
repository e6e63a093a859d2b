"""Scoring records in the admin: read-only, except API keys (rename, revoke) and detection rules,
which change only through their audited services. Rules per role: ``core.admin_rules``."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from core.admin_rules import (
    READ_ALL,
    ModelRule,
    RoleModelAdmin,
    Write,
    admin_rule,
    service_action,
)
from core.roles import ADMIN, AUDITOR, SUPERVISOR

from .engine.fields import SUMMARY_FIELDS
from .models import (
    ApiKey,
    DriftReport,
    EvaluationReport,
    ModelVersion,
    Rule,
    Transaction,
    WorkerHeartbeat,
)
from .services.apikeys import api_key_rename, api_key_revoke
from .services.rules import RULE_FIELDS, rule_create, rule_update

ADMINS = frozenset({ADMIN})
REGISTRY_READERS = frozenset({SUPERVISOR, ADMIN})


class ReadOnlyAdmin(RoleModelAdmin):
    """Written by the system (scoring, training, workers): shown, never changed here."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    """Transactions arrive through the API, streams or import; a failed row shows its error."""

    list_display = (
        *SUMMARY_FIELDS,
        "status",
        "risk_score",
        "risk_level",
        "source",
        "label",
        "scoring_error",
    )
    list_filter = ("status", "risk_level", "source", "label_source", "channel", "country")
    search_fields = ("external_id", "account_id", "merchant_id", "device_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("model_version",)

    @admin.display(description="label")
    def label(self, obj) -> str:
        if obj.is_fraud is None:
            return "—"
        return f"{'fraud' if obj.is_fraud else 'legitimate'} ({obj.get_label_source_display()})"

    @admin.display(description="scoring error")
    def scoring_error(self, obj) -> str:
        return (obj.error or "")[:120]


admin_rule("scoring.transaction", ModelRule(view=READ_ALL))


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("name",)


@admin.register(ApiKey)
class ApiKeyAdmin(RoleModelAdmin):
    """Keys are created with ``manage.py create_api_key`` (shown once); here they are renamed
    and revoked, both audited."""

    form = ApiKeyForm
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    fields = ("name", *readonly_fields)
    actions = [
        service_action(
            name="revoke_keys",
            description="Revoke",
            run=lambda key, actor, data: api_key_revoke(key=key, actor=actor),
            done=lambda key, data: "revoked.",
        )
    ]

    def service_save(self, request, obj, form, change):
        return api_key_rename(key=obj, actor=request.user, name=form.cleaned_data["name"])


admin_rule(
    "scoring.apikey",
    ModelRule(
        view=ADMINS,
        change=Write(roles=ADMINS, audit=("apikey.rename",)),
        actions={"revoke_keys": Write(roles=ADMINS, audit=("apikey.revoke",))},
    ),
)


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = list(RULE_FIELDS)


@admin.register(Rule)
class RuleAdmin(RoleModelAdmin):
    """Detection rules (also at ``/rules/``): created and changed through the rule services,
    which check the expression and audit the change; deactivate instead of deleting."""

    form = RuleForm
    list_display = ("name", "expression", "risk_floor", "is_active", "error_count", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "expression")
    readonly_fields = ("created_by", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        extra = [f for f in ("error_count", "last_error", "last_error_at") if hasattr(Rule, f)]
        return [*self.readonly_fields, *extra]

    def service_save(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in RULE_FIELDS}
        if change:
            return rule_update(actor=request.user, rule=obj, **data)
        return rule_create(actor=request.user, **data)


admin_rule(
    "scoring.rule",
    ModelRule(
        view=ADMINS,
        add=Write(roles=ADMINS, audit=("rule.create",)),
        change=Write(roles=ADMINS, audit=("rule.update",)),
    ),
)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Promote, roll back and retire on ``/models/`` (audited)."""

    list_display = ("version", "role", "algorithm", "created_at", "promoted_at")
    list_filter = ("role",)


admin_rule("scoring.modelversion", ModelRule(view=REGISTRY_READERS))


@admin.register(EvaluationReport)
class EvaluationReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model_version", "rows", "positives", "holdout_share")


admin_rule("scoring.evaluationreport", ModelRule(view=REGISTRY_READERS))


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model_version", "score_psi", "alert", "threshold")
    list_filter = ("alert",)


admin_rule("scoring.driftreport", ModelRule(view=REGISTRY_READERS))


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    """Written by workers only: a hand-made heartbeat would turn ``/healthz`` green."""

    list_display = ("hostname", "pid", "last_seen")


admin_rule("scoring.workerheartbeat", ModelRule(view=frozenset({ADMIN, AUDITOR})))
