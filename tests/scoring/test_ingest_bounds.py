"""Hostile input over the API: every bound a clear 400 (or 413), nothing stored; and accepted
means stored (the result is read back from the database, on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from scoring.models import Transaction
from scoring.schema import BatchValidationError, validate_transactions
from scoring.services.ingest import transactions_store
from tests.helpers import txn

URL = "/api/v1/transactions"
SCORE_URL = "/api/v1/transactions/score"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("scoring.queueing.score_batch_send", lambda ids, request_id=None: None)


def post_raw(client, body: str | bytes, url: str = URL):
    return client.post(url, data=body, content_type="application/json")


@pytest.mark.django_db
class TestBounds:
    @pytest.mark.parametrize("url", [URL, SCORE_URL])
    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"occurred_at": "2300-01-01T00:00:00Z"}, "occurred_at", "in the future"),
            ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", "before 1970"),
            ({"occurred_at": "-0001-01-01T00:00:00Z"}, "occurred_at", "ISO 8601"),
            ({"metadata": {"a": {"b": {"c": {"d": 1}}}}}, "metadata", "deeper than 3"),
            ({"metadata": {str(i): i for i in range(51)}}, "metadata", "At most 50 keys"),
            ({"metadata": {"x": "y" * 9000}}, "metadata", "8,192 bytes"),
            ({"metadata": {"x": "a\x00"}}, "metadata", "Null characters"),
            ({"account_id": "a\x00"}, "account_id", "Null characters"),
            ({"device_id": "d" * 101}, "device_id", "no more than 100"),
        ],
    )
    def test_each_bound_is_a_clear_400_and_stores_nothing(
        self, api_client, url, overrides, field, message
    ):
        response = api_client.post(url, txn(**overrides), format="json")
        assert response.status_code == 400, response.content
        errors = response.json()["errors"]
        errors = errors["0"] if url == URL else errors
        assert message in errors[field][0]
        assert Transaction.objects.count() == 0

    @pytest.mark.parametrize(
        ("fragment", "message"),
        [
            ('"score": 1e999', "infinity"),
            ('"s": "\\ud800"', "surrogate"),
            ('"s": NaN', "expected a JSON value"),
        ],
    )
    def test_non_json_numbers_and_lone_surrogates_are_refused_by_the_parser(
        self, api_client, fragment, message
    ):
        body = json.dumps(txn(metadata={})).replace('"metadata": {}', f'"metadata": {{{fragment}}}')
        response = post_raw(api_client, body)
        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert Transaction.objects.count() == 0

    @pytest.mark.parametrize("url", [URL, SCORE_URL])
    def test_deep_nesting_is_refused_before_parsing(self, api_client, url):
        assert post_raw(api_client, "[" * 100_000, url).status_code == 400
        item = json.dumps(txn(metadata={})).replace(
            '"metadata": {}', '"metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000
        )
        response = post_raw(api_client, item, url)
        assert response.status_code == 400
        assert "nested deeper than" in response.json()["detail"]
        assert Transaction.objects.count() == 0

    @pytest.mark.parametrize(
        ("body", "kind"),
        [("null", "null"), ("[]", "an array"), ('"txn"', "a string"), ("42", "a number")],
    )
    def test_a_body_that_is_not_an_object_names_what_was_expected(self, api_client, body, kind):
        response = post_raw(api_client, body)
        assert response.status_code == 400
        assert response.json()["detail"] == (
            f'Send one transaction object or {{"transactions": [...]}}; got {kind}.'
        )
        response = post_raw(api_client, body, SCORE_URL)
        assert response.status_code == 400
        assert response.json()["detail"] == f"Send one transaction object; got {kind}."

    def test_a_batch_with_one_bad_item_stores_nothing(self, api_client):
        items = [txn(i) for i in range(5)]
        items[2]["metadata"] = {"nested": {"deeper": {"and": {"deeper": 1}}}}
        response = api_client.post(URL, {"transactions": items}, format="json")
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"2"}
        assert Transaction.objects.count() == 0


@pytest.mark.django_db
class TestAcceptedMeansStored:
    """What the database does not store is an error for that item, never a duplicate."""

    def test_an_item_the_database_refuses_is_an_error_not_a_duplicate(self):
        items = _validated(3)
        # Past the validator (amount > 0), the CHECK constraint refuses it: SQLite's INSERT OR
        # IGNORE would skip it silently, PostgreSQL raises. Either way: an error for item 2.
        items[2]["amount"] = Decimal("0")
        with pytest.raises(BatchValidationError) as info:
            transactions_store(items=items, source=Transaction.Source.API, mode="history")
        errors = info.value.extra["errors"]
        assert set(errors) == {"2"}
        assert "txn_amount_positive" in errors["2"]["non_field_errors"][0]
        assert Transaction.objects.count() == 0

    def test_an_existing_external_id_is_a_duplicate(self):
        first = transactions_store(items=_validated(2), source="api", mode="history")
        again = transactions_store(items=_validated(3), source="api", mode="history")
        assert (first.accepted, first.duplicates) == (2, 0)
        assert (again.accepted, again.duplicates) == (1, 2)
        assert Transaction.objects.count() == 3
        assert again.ids == list(
            Transaction.objects.filter(external_id="ext-2").values_list("id", flat=True)
        )


def _validated(n: int) -> list[dict]:
    return validate_transactions([txn(i) for i in range(n)])
