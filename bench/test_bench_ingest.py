"""Ingest validation speed (``make bench``): the one validator on a 1,000-item batch.

Issue 11 wants ingest at 30,000 transactions a second per web worker for 1,000-item batches, so
parsing and validating a batch must stay a small part of 33 ms. Figures are printed (run with
``-s``); the floor asserted here is the validator alone at 30,000 items a second.
"""

from __future__ import annotations

import time

import orjson
import pytest
from django.db import connection
from rest_framework.test import APIClient

from scoring.schema import batch_items, loads_bounded, validate_transactions
from scoring.services.apikeys import api_key_create

BATCH = 1000
ROUNDS = 20


def _item(n: int) -> dict:
    """A realistic item: its own id, amount and time (a check runs once per distinct text, so
    identical amounts and times would flatter the validator); 97 accounts, one merchant."""
    minute, second = divmod(n % 3600, 60)
    return {
        "external_id": f"bench-{n}",
        "account_id": f"acct-{n % 97}",
        "amount": f"{10 + (n * 37) % 99000 / 100:.2f}",
        "currency": "EUR",
        "occurred_at": f"2026-11-20T10:{minute:02d}:{second:02d}+01:00",
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "channel": "pos",
        "country": "DE",
        "latitude": 52.52,
        "longitude": 13.40,
        "device_id": "dev-1",
        "ip_address": "203.0.113.7",
        "counterparty_id": "",
        "metadata": {"terminal": "T-9", "risk_hint": 0.2},
    }


def _best(fn) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def test_validating_a_batch_of_1000():
    items = [_item(i) for i in range(BATCH)]
    body = orjson.dumps({"transactions": items})
    parse = _best(lambda: batch_items(loads_bounded(body)))
    validate = _best(lambda: validate_transactions(items))
    print(
        f"\n{BATCH} items, {len(body):,} bytes: parse+depth check {parse * 1000:.1f} ms, "
        f"validate {validate * 1000:.1f} ms ({BATCH / validate:,.0f} items/s), "
        f"together {(parse + validate) * 1000:.1f} ms ({BATCH / (parse + validate):,.0f}/s)"
    )
    assert BATCH / validate >= 30_000


@pytest.mark.django_db(transaction=True)
def test_posting_batches_of_1000(monkeypatch):
    """The whole request in-process (parse, validate, bulk insert, read back), on the configured
    database; the broker is left out (enqueueing is one message per batch)."""
    monkeypatch.setattr("scoring.queueing.score_batch_send", lambda ids, request_id=None: None)
    api_client = APIClient()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(name='bench')[1]}")
    timings = []
    for round_ in range(5):
        body = orjson.dumps({"transactions": [_item(round_ * BATCH + i) for i in range(BATCH)]})
        started = time.perf_counter()
        response = api_client.post(
            "/api/v1/transactions", data=body, content_type="application/json"
        )
        timings.append(time.perf_counter() - started)
        assert response.status_code == 202 and response.json()["accepted"] == BATCH
    best = min(timings)
    print(
        f"\nPOST {BATCH} items ({connection.vendor}): best {best * 1000:.0f} ms "
        f"({BATCH / best:,.0f} tx/s), median {sorted(timings)[2] * 1000:.0f} ms"
    )
