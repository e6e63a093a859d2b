"""Issue 14 (filters): queue filters shared by the page and the API, snooze / wake, merge and
moving a transaction — through services, pages, API and the beat task."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Attachment, Case, CaseTransaction, Note
from fraudcases.services.merge import case_merge, case_transaction_move
from fraudcases.services.snooze import case_snooze, case_wake, cases_wake_due
from fraudcases.tasks import wake_snoozed_cases
from scoring.services.labels import DISPOSITION_LABELS
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def queue(client, **params):
    response = client.get("/cases/", params)
    assert response.status_code == 200, response.content[:300]
    return response


def ids(response) -> list[int]:
    return [c.pk for c in response.context["page"]]


def api_ids(client, **params) -> list[int]:
    response = client.get("/api/v1/cases", params)
    assert response.status_code == 200, response.content[:300]
    return [row["id"] for row in response.json()["results"]]


# --- filters ----------------------------------------------------------------------------------


def test_mine_and_me_are_the_same_filter_on_page_and_api(people):
    mine = CaseFactory(assignee=people["inv"])
    CaseFactory(assignee=people["inv2"])
    CaseFactory()
    for value in ("mine", "me"):
        assert ids(queue(page(people["inv"]), assignee=value)) == [mine.pk]
        assert api_ids(api(people["inv"]), assignee=value) == [mine.pk]


def test_sort_by_amount_and_every_column_both_ways(people):
    small = CaseFactory(transactions=1)  # 125.50
    big = CaseFactory(transactions=3)  # 376.50
    client, rest = page(people["inv"]), api(people["inv"])
    assert ids(queue(client, sort="-amount")) == [big.pk, small.pk]
    assert ids(queue(client, sort="amount")) == [small.pk, big.pk]
    assert api_ids(rest, sort="-amount") == [big.pk, small.pk]
    for key in ("id", "priority", "risk", "account", "reason", "status", "assignee", "age", "due"):
        for sort in (key, f"-{key}"):
            response = queue(client, sort=sort)
            assert not response.context["form"].errors, sort
            assert sorted(ids(response)) == sorted([small.pk, big.pk]), sort
            assert client.get("/api/v1/cases", {"sort": sort}).status_code == 200


def test_unknown_filter_value_is_a_visible_error_not_an_empty_list(people):
    case = CaseFactory()
    response = queue(page(people["inv"]), sort="-bogus", priority="urgent", assignee="nobody-x")
    errors = response.context["form"].errors
    assert set(errors) == {"sort", "priority", "assignee"}
    body = response.content.decode()
    assert 'id="filter-errors"' in body and "nobody-x" in body
    assert ids(response) == [case.pk]  # the invalid filters are not applied; the list is there
    bad = api(people["inv"]).get("/api/v1/cases", {"sort": "-bogus", "assignee": "nobody-x"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"sort", "assignee"}
    # A '%' in the value is data, not a format directive (Schemathesis found this as a 500).
    odd = api(people["inv"]).get("/api/v1/cases", {"assignee": "Q54X>9%"})
    assert odd.status_code == 400
    assert "Q54X>9%" in str(odd.json()["errors"]["assignee"])
    assert "Q54X&gt;9%" in queue(page(people["inv"]), assignee="Q54X>9%").content.decode()
    # Offsets Python accepts but PostgreSQL does not (+18:29) are converted to UTC first, and
    # a time with no UTC equivalent in years 1-9999 is a field error (both found by fuzzing).
    far = api(people["inv"]).get("/api/v1/cases", {"created_from": "5015-08-27T18:26:02+18:29"})
    assert far.status_code == 200, far.content
    early = api(people["inv"]).get("/api/v1/cases", {"created_to": "0001-01-01T00:00:00+14:00"})
    assert early.status_code == 400 and "created_to" in early.json()["errors"]


def test_amount_column_is_the_case_total_and_reasons_are_labels(people):
    CaseFactory(transactions=2)
    body = queue(page(people["inv"])).content.decode()
    assert "Case total" in body and "251.00 USD" in body
    assert "Burst of transactions" in body and "New device" in body
    assert ">velocity<" not in body and "new_device" not in body


def test_api_filters_reject_bad_ranges_and_keep_the_old_contract(people):
    CaseFactory(priority="critical", risk_level="critical")
    rest = api(people["inv"])
    assert len(api_ids(rest, priority="critical")) == 1
    bad = rest.get(
        "/api/v1/cases", {"created_from": "2026-12-02T00:00Z", "created_to": "2026-12-01T00:00Z"}
    )
    assert bad.status_code == 400 and "created_to" in bad.json()["errors"]
    assert rest.get("/api/v1/cases", {"status": "nope"}).status_code == 400


# --- snooze -----------------------------------------------------------------------------------


def test_snooze_leaves_the_active_queue_and_wakes_by_time_audited(people, settings):
    settings.CASE_SNOOZE_PAUSES_SLA = True
    case = CaseFactory()
    due = case.due_at
    until = timezone.now() + timedelta(hours=2)
    case_snooze(case=case, actor=people["inv"], until=until, reason="Waiting for the customer")
    client = page(people["inv"])
    assert case.pk not in ids(queue(client))
    assert ids(queue(client, snoozed="snoozed")) == [case.pk]
    assert services.case_claim_next(actor=people["inv2"]) is None  # never claimed while snoozed
    assert cases_wake_due() == []  # not yet
    later = timezone.now() + timedelta(hours=3)
    woken = cases_wake_due(now=later)
    assert [c.pk for c in woken] == [case.pk]
    case.refresh_from_db()
    assert case.snoozed_until is None and case.pk in ids(queue(client))
    assert case.due_at > due + timedelta(hours=2, minutes=59)  # the SLA clock was paused
    wake = AuditEvent.objects.get(case=case, action="case.wake")
    assert wake.actor_label == "system:snooze-clock" and "Snooze ended" in wake.note
    assert wake.after["sla_paused_seconds"] >= 3 * 3600 - 5
    assert AuditEvent.objects.filter(case=case, action="case.snooze").count() == 1
    assert wake_snoozed_cases() == 0  # idempotent


def test_sla_runs_on_when_not_paused(people, settings):
    settings.CASE_SNOOZE_PAUSES_SLA = False
    case = CaseFactory()
    due = case.due_at
    case_snooze(
        case=case, actor=people["inv"], until=timezone.now() + timedelta(hours=1), reason="x"
    )
    cases_wake_due(now=timezone.now() + timedelta(hours=2))
    case.refresh_from_db()
    assert case.due_at == due


def test_a_new_risky_transaction_wakes_a_snoozed_case(people):
    case = CaseFactory()
    case_snooze(
        case=case, actor=people["inv"], until=timezone.now() + timedelta(days=2), reason="x"
    )
    txn = TransactionFactory(account_id=case.account_id)
    services.cases_open_or_attach(
        hits=[services.CaseHit(account_id=case.account_id, transaction_ids=[txn.pk], risk_score=90)]
    )
    case.refresh_from_db()
    assert case.snoozed_until is None
    event = AuditEvent.objects.filter(case=case, action="case.wake").get()
    assert event.note == "A new risky transaction attached."


def test_snooze_bad_input_and_refusals(people):
    case = CaseFactory(assignee=people["inv2"])
    with pytest.raises(ApplicationError, match="future"):
        case_snooze(case=case, actor=people["sup"], until=timezone.now(), reason="x")
    with pytest.raises(ApplicationError, match="at most"):
        case_snooze(
            case=case, actor=people["sup"], until=timezone.now() + timedelta(days=400), reason="x"
        )
    with pytest.raises(PermissionDeniedError):  # someone else's case
        case_snooze(
            case=case, actor=people["inv"], until=timezone.now() + timedelta(days=1), reason="x"
        )
    with pytest.raises(ConflictError, match="not snoozed"):
        case_wake(case=case, actor=people["sup"])
    assert not AuditEvent.objects.filter(case=case).exists()


def test_snooze_and_wake_through_api_and_pages(people):
    case = CaseFactory()
    rest = api(people["inv"])
    until = (timezone.now() + timedelta(days=1)).isoformat()
    response = rest.post(
        f"/api/v1/cases/{case.pk}/snooze", {"until": until, "reason": "merchant"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["snoozed_until"]
    bad = rest.post(f"/api/v1/cases/{case.pk}/snooze", {"until": "tomorrow"}, format="json")
    assert bad.status_code == 400 and {"until", "reason"} <= set(bad.json()["errors"])
    detail = page(people["inv"]).get(f"/cases/{case.pk}/").content.decode()
    assert 'id="case-snoozed"' in detail and 'id="action-wake"' in detail
    response = page(people["inv"]).post(f"/cases/{case.pk}/wake/", {"note": "customer called"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.snoozed_until is None
    assert rest.post(f"/api/v1/cases/{case.pk}/wake", {}, format="json").status_code == 409
    assert (
        api(people["aud"]).post(f"/api/v1/cases/{case.pk}/wake", {}, format="json").status_code
        == 403
    )


# --- merge ------------------------------------------------------------------------------------


def _evidence(case: Case, actor) -> None:
    services.case_note_add(case=case, actor=actor, body="seen this before")
    services.case_tags_update(case=case, actor=actor, add=["mule"])
    Attachment.objects.create(
        case=case,
        uploaded_by=actor,
        file="attachments/x.txt",
        original_name="x.txt",
        content_type="text/plain",
        size=1,
        sha256="0" * 64,
    )


def test_merge_moves_everything_closes_as_merged_and_audits_both(people):
    target = CaseFactory(transactions=1, risk_score=70, priority="medium", risk_level="medium")
    source = CaseFactory(transactions=2, risk_score=95, priority="critical", risk_level="critical")
    Case.objects.filter(pk=target.pk).update(trigger="manual", account_id=source.account_id)
    _evidence(source, people["inv"])
    source_txns = set(source.case_transactions.values_list("transaction_id", flat=True))
    case_merge(case=source, actor=people["inv"], into=target.pk, note="same mule ring")
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.status == "closed" and source.disposition == "merged"
    assert source.merged_into_id == target.pk
    assert set(target.case_transactions.values_list("transaction_id", flat=True)) >= source_txns
    assert target.tags.filter(name="mule").exists() and not source.tags.exists()
    assert Note.objects.filter(case=target, body="seen this before").exists()
    assert Attachment.objects.filter(case=target, original_name="x.txt").exists()
    assert target.priority == "critical" and target.risk_score == 95
    events = AuditEvent.objects.filter(action="case.merge")
    assert {e.case_id for e in events} == {source.pk, target.pk}
    src_event = events.get(case=source)
    assert src_event.after["merged_into"] == target.pk
    assert set(src_event.after["moved"]["transactions"]) == source_txns


def test_merged_is_not_a_training_label_nor_a_closing_choice(people):
    assert "merged" not in DISPOSITION_LABELS
    case = CaseFactory()
    with pytest.raises(ApplicationError, match="disposition"):
        services.case_close(case=case, actor=people["sup"], disposition="merged", note="x")
    bad = api(people["sup"]).post(
        f"/api/v1/cases/{case.pk}/close", {"disposition": "merged", "note": "x"}, format="json"
    )
    assert bad.status_code == 400


def test_merge_across_accounts_is_for_supervisors_and_bad_targets_are_400(people):
    source, other = CaseFactory(), CaseFactory()
    with pytest.raises(ApplicationError, match="supervisor"):
        case_merge(case=source, actor=people["inv"], into=other.pk, note="x")
    with pytest.raises(ApplicationError, match="itself"):
        case_merge(case=source, actor=people["sup"], into=source.pk, note="x")
    rest = api(people["inv"])
    missing = rest.post(
        f"/api/v1/cases/{source.pk}/merge", {"into": 999999, "note": "x"}, format="json"
    )
    assert missing.status_code == 400 and "into" in missing.json()["errors"]
    assert not AuditEvent.objects.filter(action="case.merge").exists()
    ok = api(people["sup"]).post(
        f"/api/v1/cases/{source.pk}/merge", {"into": other.pk, "note": "one ring"}, format="json"
    )
    assert ok.status_code == 200, ok.content
    assert Case.objects.get(pk=source.pk).merged_into_id == other.pk


def test_merge_through_the_page(people):
    target = CaseFactory()
    source = CaseFactory(account_id=target.account_id, trigger="manual")
    response = page(people["inv"]).post(
        f"/cases/{source.pk}/merge/", {"into": target.pk, "note": "duplicate"}
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.disposition == "merged"
    detail = page(people["inv"]).get(f"/cases/{source.pk}/").content.decode()
    assert f'href="/cases/{target.pk}/"' in detail


def test_move_a_transaction_to_another_case(people):
    source = CaseFactory(transactions=2)
    target = CaseFactory(account_id=source.account_id, trigger="manual")
    txn = source.transactions.first()
    case_transaction_move(
        case=source,
        actor=people["inv"],
        transaction_id=txn.external_id,
        into=target.pk,
        note="belongs to the other burst",
    )
    assert CaseTransaction.objects.get(transaction=txn).case_id == target.pk
    assert AuditEvent.objects.filter(action="case.move_transaction").count() == 2
    bad = api(people["inv"]).post(
        f"/api/v1/cases/{source.pk}/move-transaction",
        {"transaction_id": "nope", "into": target.pk, "note": "x"},
        format="json",
    )
    assert bad.status_code == 400 and "transaction_id" in bad.json()["errors"]
    assert source.case_transactions.count() == 1
    assert Decimal(source.transactions.first().amount) > 0


# --- entity graph -----------------------------------------------------------------------------


@pytest.fixture
def ring():
    """Five accounts sharing one device (a collusion ring), each with its own case; one also
    shares an IP with an account outside the ring."""
    cases = []
    for i in range(5):
        case = CaseFactory(account_id=f"ring-{i}", transactions=0)
        txn = TransactionFactory(
            account_id=f"ring-{i}",
            device_id="dev-ring",
            ip_address=f"10.0.0.{i}",
            merchant_id=f"m-ring-{i}",
        )
        CaseTransaction.objects.create(case=case, transaction=txn)
        cases.append(case)
    TransactionFactory(account_id="outsider", device_id="dev-other", ip_address="10.0.0.0")
    return cases


def test_graph_of_a_ring_sharing_a_device(people, ring, django_assert_max_num_queries):
    case = ring[0]
    response = api(people["inv"]).get(f"/api/v1/cases/{case.pk}/graph")
    assert response.status_code == 200
    graph = response.json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert {f"account:ring-{i}" for i in range(5)} <= set(nodes)
    assert {f"case:{c.pk}" for c in ring} <= set(nodes)
    assert "device:dev-ring" in nodes and "ip:10.0.0.0" in nodes and "account:outsider" in nodes
    assert "device:dev-other" not in nodes  # depth 2 stops at the other accounts
    assert nodes[f"case:{case.pk}"]["current"] and nodes[f"case:{ring[1].pk}"]["url"]
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    for i in range(5):
        assert (f"account:ring-{i}", "device:dev-ring") in edges
    assert all(s in nodes and t in nodes for s, t in edges)
    assert graph["truncated"] is False
    with django_assert_max_num_queries(6):
        from fraudcases.selectors import case_graph

        case_graph(user=people["inv"], case=case)


def test_graph_query_count_does_not_grow_with_the_ring(people, ring, django_assert_max_num_queries):
    from fraudcases.selectors import case_graph

    for i in range(5, 40):
        TransactionFactory(account_id=f"ring-{i}", device_id="dev-ring")
        CaseFactory(account_id=f"ring-{i}")
    with django_assert_max_num_queries(6):
        graph = case_graph(user=people["inv"], case=ring[0])
    assert len([n for n in graph["nodes"] if n["type"] == "account"]) >= 40


def test_graph_is_bounded_and_says_truncated(people, ring, settings):
    from fraudcases.selectors import case_graph

    settings.CASE_GRAPH_MAX_NODES = 6
    graph = case_graph(user=people["inv"], case=ring[0])
    assert len(graph["nodes"]) == 6 and graph["truncated"] is True
    ids_ = {n["id"] for n in graph["nodes"]}
    assert f"case:{ring[0].pk}" in ids_ and "account:ring-0" in ids_  # nearest first
    assert all(e["source"] in ids_ and e["target"] in ids_ for e in graph["edges"])


def test_graph_needs_a_case_role(people, ring):
    outsider = people["nobody"]
    assert api(outsider).get(f"/api/v1/cases/{ring[0].pk}/graph").status_code == 403
    assert APIClient().get(f"/api/v1/cases/{ring[0].pk}/graph").status_code in (401, 403)
    assert api(people["inv"]).get("/api/v1/cases/99999/graph").status_code == 404
    detail = page(people["inv"]).get(f"/cases/{ring[0].pk}/").content.decode()
    assert 'id="case-graph"' in detail and "case_graph.js" in detail


# --- live queue -------------------------------------------------------------------------------


def test_live_queue_endpoint_follows_the_query_and_changes_signature(people):
    first = CaseFactory(priority="critical", risk_level="critical")
    client = page(people["inv"])
    live = client.get("/cases/live/", {"priority": "critical", "sort": "-amount"})
    assert live.status_code == 200
    data = live.json()
    assert data["ids"] == [first.pk] and data["count"] == 1 and data["errors"] == {}
    assert f'href="/cases/{first.pk}/"' in data["rows"]
    again = client.get("/cases/live/", {"priority": "critical", "sort": "-amount"}).json()
    assert again["signature"] == data["signature"]
    second = CaseFactory(priority="critical", risk_level="critical")
    CaseFactory(priority="low", risk_level="low")  # filtered out
    changed = client.get("/cases/live/", {"priority": "critical", "sort": "-amount"}).json()
    assert changed["signature"] != data["signature"]
    assert set(changed["ids"]) == {first.pk, second.pk}
    bad = client.get("/cases/live/", {"sort": "nope"}).json()
    assert "sort" in bad["errors"]
    queue_page = queue(client, priority="critical").content.decode()
    assert 'data-live-url="/cases/live/?priority=critical"' in queue_page
    assert "queue_live.js" in queue_page
