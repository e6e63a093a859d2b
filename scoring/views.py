"""Pages of the scoring app: the model registry (``/models/``) and detection rules (``/rules/``).

Thin: check the permission, read through selectors, write through services, render. Lifecycle
actions are POST forms (CSRF); a GET on an action URL shows what it would do and a confirm button,
so every action also works without the list page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from core.permissions import user_can

from .forms import ConfirmForm, RuleForm
from .models import ModelVersion
from .selectors import (
    challenger_comparison,
    champion_model,
    drift_reports_for_user,
    evaluation_reports_for_user,
    model_live_precision,
    model_versions_for_user,
    rules_for_user,
)
from .services.registry import (
    model_make_challenger,
    model_promote,
    model_retire,
    model_rollback,
    rollback_target,
)
from .services.rules import rule_create, rule_preview, rule_update

METRIC_KEYS = (
    "average_precision",
    "roc_auc",
    "precision_at_1pct",
    "recall_at_1pct",
    "precision_at_5pct",
    "recall_at_5pct",
)


def _require(request, action: str) -> None:
    if not user_can(request.user, action):
        raise PermissionDenied(f"Your role does not allow '{action}'.")


def _version(request, pk: int) -> ModelVersion:
    mv = model_versions_for_user(user=request.user).filter(pk=pk).first()
    if mv is None:
        raise Http404("No such model version.")
    return mv


def _drift_view(report) -> dict | None:
    if report is None:
        return None
    ranked = sorted(report.feature_psi.items(), key=lambda kv: -kv[1])
    return {
        "report": report,
        "features": [
            {"name": n, "psi": v, "drifted": v > report.threshold, "bar": min(v / 0.5, 1) * 100}
            for n, v in ranked
        ],
        "compared": bool(report.feature_psi) or report.score_psi is not None,
    }


def _evaluation_view(report) -> dict | None:
    if report is None:
        return None
    rows = [
        {"name": name, "metrics": [value.get(k) for k in METRIC_KEYS]}
        for name, value in report.report.items()
        if isinstance(value, dict) and "average_precision" in value
    ]
    return {"report": report, "rows": rows}


def _version_row(mv: ModelVersion, live: dict) -> dict:
    summary = mv.training_summary or {}
    return {
        "mv": mv,
        "span_from": (summary.get("from") or "")[:10],
        "span_to": (summary.get("to") or "")[:10],
        "rows": summary.get("rows"),
        "positives": summary.get("positives"),
        "ap": mv.metrics.get("average_precision"),
        "roc_auc": mv.metrics.get("roc_auc"),
        "live": live.get(mv.pk),
        "levels": _levels_view(summary.get("levels")),
    }


def _levels_view(levels: dict | None) -> list[dict]:
    """The version's alert-budget levels, most severe first (none for older versions)."""
    if not levels:
        return []
    order = ("critical", "high", "medium")
    return [
        {
            "name": name,
            **levels[name],
            "budget_pct": 100 * levels[name]["budget"],
            "share_pct": 100 * levels[name]["normal_share"],
        }
        for name in order
        if name in levels
    ]


@login_required
@require_GET
def model_list(request):
    """``/models/``: every version, champion vs challenger on live traffic, drift, evaluation."""
    _require(request, "model.view")
    versions = list(model_versions_for_user(user=request.user).order_by("-created_at", "-pk"))
    live = model_live_precision()
    champion = next((v for v in versions if v.role == ModelVersion.Role.CHAMPION), None)
    challenger = next((v for v in versions if v.role == ModelVersion.Role.CHALLENGER), None)
    return render(
        request,
        "models/list.html",
        {
            "rows": [_version_row(mv, live) for mv in versions],
            "champion": _version_row(champion, live) if champion else None,
            "challenger": _version_row(challenger, live) if challenger else None,
            "comparison": challenger_comparison(challenger=challenger) if challenger else None,
            "rollback_to": rollback_target() if champion else None,
            "drift": _drift_view(drift_reports_for_user(user=request.user).first()),
            "evaluation": _evaluation_view(evaluation_reports_for_user(user=request.user).first()),
            "metric_keys": METRIC_KEYS,
            "can_promote": user_can(request.user, "model.promote"),
            "can_manage_rules": user_can(request.user, "rule.manage"),
        },
    )


@login_required
@require_GET
def model_detail(request, pk: int):
    """``/models/<id>/``: one version: training data, features, metrics, live results."""
    _require(request, "model.view")
    mv = _version(request, pk)
    live = model_live_precision()
    return render(
        request,
        "models/detail.html",
        {
            "row": _version_row(mv, live),
            "mv": mv,
            "metrics": [(k, mv.metrics.get(k)) for k in METRIC_KEYS if k in mv.metrics],
            "other_metrics": {k: v for k, v in mv.metrics.items() if k not in METRIC_KEYS},
            "patterns": (mv.training_summary or {}).get("patterns", {}),
            "comparison": (
                challenger_comparison(challenger=mv)
                if mv.role == ModelVersion.Role.CHALLENGER
                else None
            ),
            "evaluations": [
                _evaluation_view(r)
                for r in evaluation_reports_for_user(user=request.user).filter(model_version=mv)[:3]
            ],
            "drift": _drift_view(
                drift_reports_for_user(user=request.user).filter(model_version=mv).first()
            ),
            "champion": champion_model(),
            "can_promote": user_can(request.user, "model.promote"),
        },
    )


ACTIONS = {
    "promote": {
        "title": "Promote {version} to champion",
        "explain": "It will score and act on live traffic from the next batch on; the current "
        "champion ({champion}) is retired and can be restored with a rollback.",
        "button": "Promote",
    },
    "challenger": {
        "title": "Make {version} the challenger",
        "explain": "It will score live traffic in shadow (stored, compared, never acting). "
        "A current challenger goes back to candidate.",
        "button": "Make challenger",
    },
    "retire": {
        "title": "Retire {version}",
        "explain": "It stops scoring; it stays in the registry and can be promoted again.",
        "button": "Retire",
    },
    "rollback": {
        "title": "Roll back to {version}",
        "explain": "The previous champion ({version}) takes over again; the current champion "
        "({champion}) is retired.",
        "button": "Roll back",
    },
}


def _lifecycle(request, action: str, mv: ModelVersion | None):
    _require(request, "model.promote")
    champion = champion_model()
    if mv is None:
        messages.error(request, "There is no earlier champion to roll back to.")
        return redirect("models-list")
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        note = form.cleaned_data["note"]
        try:
            if action == "promote":
                model_promote(model_version=mv, actor=request.user, note=note)
                messages.success(request, f"{mv.version} is now the champion.")
            elif action == "rollback":
                restored = model_rollback(actor=request.user, note=note)
                messages.success(request, f"Rolled back: {restored.version} is the champion.")
            elif action == "challenger":
                model_make_challenger(model_version=mv, actor=request.user)
                messages.success(request, f"{mv.version} now scores in shadow as the challenger.")
            else:
                model_retire(model_version=mv, actor=request.user)
                messages.success(request, f"{mv.version} is retired.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("models-list")
    text = ACTIONS[action]
    names = {"version": mv.version, "champion": champion.version if champion else "none"}
    return render(
        request,
        "models/confirm.html",
        {
            "form": form,
            "mv": mv,
            "title": text["title"].format(**names),
            "explain": text["explain"].format(**names),
            "button": text["button"],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def model_promote_view(request, pk: int):
    """Promote a version to champion (POST; GET asks to confirm)."""
    _require(request, "model.promote")
    return _lifecycle(request, "promote", _version(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def model_challenger_view(request, pk: int):
    """Make a version the shadow challenger (POST; GET asks to confirm)."""
    _require(request, "model.promote")
    return _lifecycle(request, "challenger", _version(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def model_retire_view(request, pk: int):
    """Retire a version (POST; GET asks to confirm)."""
    _require(request, "model.promote")
    return _lifecycle(request, "retire", _version(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def model_rollback_view(request):
    """Restore the previous champion (POST; GET asks to confirm)."""
    _require(request, "model.promote")
    return _lifecycle(request, "rollback", rollback_target())


# --- Rules ----------------------------------------------------------------------------------


def _extra_features() -> list[str]:
    champion = champion_model()
    return list(champion.feature_names) if champion is not None else []


@login_required
@require_GET
def rule_list(request):
    """``/rules/``: detection rules (admins)."""
    _require(request, "rule.manage")
    return render(request, "rules/list.html", {"rules": rules_for_user(user=request.user)})


def _rule_form_page(request, rule=None):
    _require(request, "rule.manage")
    form = RuleForm(
        request.POST if request.method == "POST" else None,
        instance=rule,
        extra_features=_extra_features(),
    )
    preview = None
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in ("name", "expression", "risk_floor", "reason")}
        data["is_active"] = form.cleaned_data["is_active"]
        try:
            if "preview" in request.POST:
                preview = rule_preview(
                    actor=request.user,
                    expression=data["expression"],
                    risk_floor=data["risk_floor"],
                    limit=form.cleaned_data["preview_limit"] or 1000,
                )
            else:
                if rule is None:
                    saved = rule_create(actor=request.user, **data)
                    messages.success(request, f"Rule '{saved.name}' created.")
                else:
                    saved = rule_update(actor=request.user, rule=rule, **data)
                    messages.success(request, f"Rule '{saved.name}' saved.")
                return redirect("rules-list")
        except ApplicationError as exc:
            for field, errors in (exc.extra or {}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.extra:
                form.add_error(None, exc.message)
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "rules/form.html",
        {"form": form, "rule": rule, "preview": preview, "names": form.names_help()},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_create_view(request):
    """``/rules/new/``: write a rule, test it on recent traffic, save it."""
    return _rule_form_page(request)


def _rule(request, pk: int):
    rule = rules_for_user(user=request.user).filter(pk=pk).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit_view(request, pk: int):
    """``/rules/<id>/``: edit a rule, test it, save it."""
    _require(request, "rule.manage")
    return _rule_form_page(request, _rule(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def rule_toggle_view(request, pk: int):
    """Disable or enable a rule (POST; GET asks to confirm)."""
    _require(request, "rule.manage")
    rule = _rule(request, pk)
    verb = "Disable" if rule.is_active else "Enable"
    if request.method == "POST":
        try:
            rule_update(actor=request.user, rule=rule, is_active=not rule.is_active)
            messages.success(request, f"Rule '{rule.name}' {verb.lower()}d.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("rules-list")
    return render(request, "rules/confirm.html", {"rule": rule, "verb": verb})
