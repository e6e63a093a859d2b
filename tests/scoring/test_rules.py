"""Detection rules: the expression language, applying rules in scoring, services and preview."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ApplicationError, PermissionDeniedError
from core.models import AuditEvent
from scoring.engine import features as feature_module
from scoring.engine.rules import RuleError, compile_rule, rules_apply
from scoring.models import Rule, Transaction
from scoring.services.rules import rule_create, rule_preview, rule_update
from scoring.services.scoring import transactions_score
from tests.helpers import ingest_recent, load_history, split_history

FRAME = pd.DataFrame(
    {
        "amount": [20000.0, 5.0, 15000.0, np.nan, 12000.0],
        "new_country_30d": [1.0, 1.0, 0.0, 1.0, np.nan],
        "country": ["NG", "US", "", None, "RU"],
        "channel": ["ecom", "pos", "ecom", "atm", "ecom"],
    }
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("amount > 10000 and new_country_30d == 1", [1, 0, 0, 0, 0]),
        ("amount > 10000 and new_country_30d", [1, 0, 0, 0, 0]),
        ("amount > 10000 or country == 'US'", [1, 1, 1, 0, 1]),
        ("country in ['NG', 'RU']", [1, 0, 0, 0, 1]),
        ("country not in ['NG', 'RU'] and country != ''", [0, 1, 0, 0, 0]),
        ("not (channel == 'ecom')", [0, 1, 0, 1, 0]),
        ("100 < amount <= 15000", [0, 0, 1, 0, 1]),
        ('amount >= 1e4 and channel == "ecom"', [1, 0, 1, 0, 1]),
        ("amount > -1", [1, 1, 1, 0, 1]),
        ("country", [1, 1, 0, 0, 1]),
        ("True", [1, 1, 1, 1, 1]),
        ("amount > 10000\n  and (country == 'NG' or country == 'RU')", [1, 0, 0, 0, 1]),
    ],
)
def test_good_rules_evaluate_vectorised(expression, expected):
    rule = compile_rule(expression)
    assert rule.evaluate(FRAME).tolist() == [bool(x) for x in expected]


def test_missing_values_never_fire_a_comparison():
    # amount is NaN in row 3, new_country_30d in row 4: neither side of "!=" fires there.
    assert compile_rule("amount != 5").evaluate(FRAME).tolist() == [1, 0, 1, 0, 1]
    assert compile_rule("new_country_30d != 0").evaluate(FRAME).tolist() == [1, 1, 0, 1, 0]


def test_a_name_absent_from_the_frame_is_missing_not_an_error():
    rule = compile_rule("count_1h > 3")
    assert rule.evaluate(FRAME.drop(columns=[], errors="ignore")).tolist() == [False] * 5


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("amout > 10000", "Unknown name 'amout' (did you mean 'amount'?)"),
        ("velocity_score > 3", "Unknown name 'velocity_score'"),
        ("amount >", "Syntax error"),
        ("amount > 10000 and", "Syntax error"),
        ("amount = 3", "Syntax error"),
        ("__import__('os').system('x')", "Not allowed: function calls"),
        ("len(country) > 2", "Not allowed: function calls"),
        ("amount.real > 3", "Not allowed: attribute access"),
        ("amount * 2 > 3", "Not allowed: arithmetic"),
        ("country[0] == 'N'", "Not allowed: indexing"),
        ("(lambda: 1)() == 1", "Not allowed: function calls"),
        ("amount if country else 3", "Not allowed: `x if c else y`"),
        ("[x for x in country] == 1", "Not allowed: comprehensions"),
        ("amount == None", "Not allowed: the constant None"),
        ("country > 'A'", "`>` compares numbers"),
        ("country == 3", "Cannot compare text with a number"),
        ("amount == 'big'", "Cannot compare text with a number"),
        ("country in 'NG'", "`in` needs a list"),
        ("country in []", "`in` needs a non-empty list"),
        ("country in [channel]", "A list after `in` may only hold constants"),
        ("5", "is a value, not a condition"),
        ("'NG'", "is a value, not a condition"),
        ("(amount > 1) == True", "A condition cannot be compared"),
        ("", "The expression is empty"),
        ("   ", "The expression is empty"),
        ("amount > 1 and " * 100 + "amount > 1", "longer than 1000 characters"),
        (" or ".join(["amount > 1"] * 60), "too complex"),
    ],
)
def test_bad_rules_are_rejected_with_a_message_naming_the_problem(expression, message):
    with pytest.raises(RuleError) as info:
        compile_rule(expression)
    assert message in info.value.message


def test_errors_say_where():
    with pytest.raises(RuleError, match=r"Unknown name 'amout'.*\(at column 21\)"):
        compile_rule("country == 'NG' and amout > 3")


def test_names_follow_the_live_feature_list(monkeypatch):
    monkeypatch.setattr(
        feature_module, "FEATURE_NAMES", [*feature_module.FEATURE_NAMES, "brand_new"]
    )
    assert compile_rule("brand_new > 1").names == {"brand_new"}
    monkeypatch.setattr(feature_module, "FEATURE_NAMES", ["amount_log"])
    with pytest.raises(RuleError, match="Unknown name 'brand_new'"):
        compile_rule("brand_new > 1")
    # A model's own extra features (e.g. partner metadata keys) may be named too.
    assert compile_rule("meta_score > 0.5", extra_features=["meta_score"]).names == {"meta_score"}


def test_rules_apply_takes_the_highest_floor_per_row():
    rules = [(compile_rule("amount > 10000"), 70), (compile_rule("country == 'NG'"), 90)]
    hits = rules_apply(rules, FRAME)
    assert hits.floors.tolist() == [90, 0, 70, 0, 70]
    assert hits.fired == [[0, 1], [], [0], [], [0]]


# --- Services and scoring ------------------------------------------------------------------


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_rule_create_and_update_are_audited(admin):
    rule = rule_create(
        actor=admin,
        name="big-new-country",
        expression="amount > 10000   and new_country_30d == 1",
        risk_floor=85,
        reason="Large amount from a new country",
    )
    assert rule.expression == "amount > 10000 and new_country_30d == 1"
    event = AuditEvent.objects.get(action="rule.create", object_id=str(rule.pk))
    assert event.actor == admin and event.after["risk_floor"] == 85
    rule_update(actor=admin, rule=rule, risk_floor=95, is_active=False)
    rule.refresh_from_db()
    assert rule.risk_floor == 95 and not rule.is_active
    event = AuditEvent.objects.get(action="rule.update", object_id=str(rule.pk))
    assert event.before == {"risk_floor": 85, "is_active": True}
    assert event.after == {"risk_floor": 95, "is_active": False}
    # Saving without a change records nothing.
    rule_update(actor=admin, rule=rule, risk_floor=95)
    assert AuditEvent.objects.filter(action="rule.update").count() == 1


def test_rule_services_refuse_bad_input_and_other_roles(admin, make_user):
    with pytest.raises(ApplicationError) as info:
        rule_create(actor=admin, name="x", expression="amount >>> 3", risk_floor=50)
    assert "Syntax error" in info.value.extra["expression"][0]
    with pytest.raises(ApplicationError) as info:
        rule_create(actor=admin, name="x", expression="amount > 3", risk_floor=150)
    assert "risk_floor" in info.value.extra
    rule_create(actor=admin, name="dup", expression="amount > 3", risk_floor=50)
    with pytest.raises(ApplicationError, match="already exists"):
        rule_create(actor=admin, name="dup", expression="amount > 4", risk_floor=50)
    for role in ("supervisor", "investigator", "auditor"):
        with pytest.raises(PermissionDeniedError):
            rule_create(actor=make_user(role), name="r", expression="amount > 3", risk_floor=50)
    assert Rule.objects.count() == 1
    # Only the one rule created is audited (not a refused one), whatever ids the database gave.
    assert list(
        AuditEvent.objects.filter(action="rule.create").values_list("object_id", flat=True)
    ) == [str(Rule.objects.get().pk)]


@pytest.fixture
def history_loaded(db, champion, synthetic_history):
    older, recent = split_history(synthetic_history)
    load_history(older)
    return recent


def test_a_firing_rule_raises_the_score_and_leads_the_reasons(history_loaded, admin):
    legit = history_loaded[history_loaded["is_fraud"] == 0].iloc[:60]
    target = legit.iloc[:20]
    rule_create(
        actor=admin,
        name="watch-accounts",
        expression=f"account_id in {sorted(set(target['account_id']))!r} and amount > 0",
        risk_floor=75,
        reason="Account on the watch list",
    )
    rule_create(
        actor=admin, name="never", expression="amount > 1e12", risk_floor=99, reason="never"
    )
    rule_create(actor=admin, name="off", expression="amount > 0", risk_floor=99, is_active=False)
    ids = ingest_recent(legit)
    transactions_score(transaction_ids=ids)
    watched = set(target["account_id"])
    rows = list(Transaction.objects.filter(id__in=ids))
    assert rows
    for t in rows:
        assert len(t.reasons) <= 3
        codes = [r["code"] for r in t.reasons]
        if t.account_id in watched:
            assert t.risk_score >= 75 and t.risk_level in ("high", "critical")
            assert codes[0] == "rule:watch-accounts"
            assert t.reasons[0]["detail"] == "Account on the watch list"
            assert t.reasons[0]["weight"] >= 0
        else:
            assert "rule:watch-accounts" not in codes
        assert "rule:never" not in codes and "rule:off" not in codes


def test_a_rule_that_no_longer_compiles_is_skipped_not_fatal(history_loaded):
    Rule.objects.create(name="stale", expression="feature_that_was_removed > 1", risk_floor=99)
    ids = ingest_recent(history_loaded[history_loaded["is_fraud"] == 0].iloc[:5])
    outcome = transactions_score(transaction_ids=ids)
    assert outcome.scored == 5
    codes = {r["code"] for t in Transaction.objects.filter(id__in=ids) for r in t.reasons}
    assert "rule:stale" not in codes
    assert Transaction.objects.filter(id__in=ids, status="scored").count() == 5


def test_preview_counts_what_a_rule_would_do(history_loaded, admin):
    ids = ingest_recent(history_loaded.iloc[:200])
    transactions_score(transaction_ids=ids)
    scored = Transaction.objects.filter(id__in=ids)
    big = scored.filter(amount__gt=500)
    preview = rule_preview(actor=admin, expression="amount > 500", risk_floor=101, limit=1000)
    assert preview.rows == 200
    assert preview.fired == big.count()
    assert preview.raised == big.count()  # every score is below 101
    assert preview.labelled == 0  # live transactions carry no label and no case is closed
    assert len(preview.sample) == min(20, big.count())
    assert {s["external_id"] for s in preview.sample} <= set(
        big.values_list("external_id", flat=True)
    )
    small = rule_preview(actor=admin, expression="amount > 500", risk_floor=50, limit=10)
    assert small.rows == 10
    with pytest.raises(ApplicationError, match="Syntax error"):
        rule_preview(actor=admin, expression="amount >", risk_floor=50)
    with pytest.raises(ApplicationError, match="Preview between"):
        rule_preview(actor=admin, expression="amount > 1", risk_floor=50, limit=0)
