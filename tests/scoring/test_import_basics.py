"""``import_transactions``: any column layout, bad lines reported by number, idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management.base import CommandError

from core.models import AuditEvent
from scoring.engine.ml import train
from scoring.models import Transaction
from scoring.selectors import transactions_frame

from .import_helpers import run, write_csv

CARD_HEADER = ["when", "card", "amt", "shop", "kind", "is_fraud", "first_name", "risk"]
CARD_MAP = [
    "--map",
    "occurred_at=when",
    "account_id=card",
    "amount=amt",
    "merchant_id=shop",
    "merchant_category=kind",
    "currency=:EUR",
    "--timezone",
    "UTC",
    "--time-format",
    "%Y-%m-%d %H:%M:%S",
    "--label-column",
    "is_fraud",
    "--drop",
    "first_name",
]


@pytest.fixture
def card_file(tmp_path):
    rows = [
        ["2025-01-01 10:00:00", "4111", "12.50", "shop-a", "grocery", "0", "Ann", "3"],  # line 2
        ["2025-01-01 11:00:00", "4111", "-5", "shop-a", "grocery", "0", "Ann", "4"],  # 3: amount
        ["2025-01-01 12:00:00", "", "20.00", "shop-b", "travel", "1", "Bob", "7"],  # 4: account
        ["yesterday", "4222", "20.00", "shop-b", "travel", "1", "Bob", "7"],  # 5: time
        ["2025-01-01 13:00:00", "4222", "99.99", "shop-c"],  # 6: short line
        ["2025-01-01 14:00:00", "4222", "30.00", "shop-c", "travel", "maybe", "Bob", "2"],  # 7
        ["2025-01-02 09:30:00", "4222", "1,000.00", "shop-c", "travel", "1", "Bob", "9"],  # 8
        ["2025-01-02 09:45:00", "4222", "250.00", "shop-d", "travel", "yes", "Bob", "8.5"],  # 9
    ]
    return write_csv(tmp_path / "cards.csv", CARD_HEADER, rows)


@pytest.mark.django_db
def test_bad_lines_are_reported_by_number_and_the_rest_is_imported(card_file):
    # Lines 4, 5 and 8 are labelled fraud: without --on-bad-line skip the import is refused
    # (tests/scoring/test_import_policies.py).
    out, err = run(str(card_file), *CARD_MAP, "--on-bad-line", "skip")
    assert "line 3: amount:" in err
    assert "line 4: account_id:" in err
    assert "line 5: occurred_at: cannot read 'yesterday'" in err
    assert "line 6: 4 fields, the header has 8" in err
    assert "line 7: label 'maybe'" in err
    assert "line 8: amount:" in err  # "1,000.00" is not a decimal number
    assert "2 imported, 0 already present, 6 bad line(s)" in out
    assert "3 line(s) labelled fraud were NOT imported (lines 4, 5, 8)" in out
    rows = {t.amount: t for t in Transaction.objects.all()}
    assert set(rows) == {Decimal("12.50"), Decimal("250.00")}
    first = rows[Decimal("12.50")]
    assert first.occurred_at == datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    assert first.currency == "EUR" and first.merchant_category == "grocery"
    assert first.status == Transaction.Status.IMPORTED and first.source == "import"
    assert first.is_fraud is False and rows[Decimal("250.00")].is_fraud is True
    # Unmapped columns go into metadata (numbers as numbers); dropped ones nowhere.
    assert first.metadata == {"risk": 3} and rows[Decimal("250.00")].metadata == {"risk": 8.5}
    # Without a mapped external id: content hash + line number.
    assert first.external_id.endswith("-2") and len(first.external_id) == 18
    event = AuditEvent.objects.get(action="transaction.import")
    assert event.after["imported"] == 2 and event.after["bad_lines"] == 6


@pytest.mark.django_db
def test_reimporting_the_same_file_adds_nothing(card_file):
    run(str(card_file), *CARD_MAP, "--on-bad-line", "skip")
    ids = set(Transaction.objects.values_list("external_id", flat=True))
    out, _ = run(str(card_file), *CARD_MAP, "--on-bad-line", "skip")
    assert "0 imported, 2 already present" in out
    assert set(Transaction.objects.values_list("external_id", flat=True)) == ids


@pytest.mark.django_db
def test_mapped_external_ids_and_chunks(tmp_path):
    rows = [[f"t-{i}", "acct", f"{i + 1}.00", f"2025-03-01T10:{i:02d}:00+01:00"] for i in range(7)]
    path = write_csv(tmp_path / "api-like.csv", ["id", "acct", "amount", "at"], rows)
    args = [str(path), "--map", "external_id=id", "account_id=acct", "amount=amount"]
    out, _ = run(*args, "occurred_at=at", "--chunk-size", "3")
    assert "7 imported" in out
    first = Transaction.objects.get(external_id="t-0")
    assert first.occurred_at == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert first.is_fraud is None and first.metadata == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("time_format", "value", "timezone", "expected"),
    [
        ("unix", "1735725600", None, datetime(2025, 1, 1, 10, 0, tzinfo=UTC)),
        ("unix", "1735725600.5", None, datetime(2025, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("offset:h:2025-01-01T00:00:00Z", "35", None, datetime(2025, 1, 2, 11, 0, tzinfo=UTC)),
        (
            "offset:s:2025-01-01T00:00:00+02:00",
            "90",
            None,
            datetime(2024, 12, 31, 22, 1, 30, tzinfo=UTC),
        ),
        ("offset:h:2025-01-01T00:00:00", "1", "UTC", datetime(2025, 1, 1, 1, 0, tzinfo=UTC)),
        (
            "%d/%m/%Y %H:%M",
            "02/01/2025 10:00",
            "Europe/Paris",
            datetime(2025, 1, 2, 9, 0, tzinfo=UTC),
        ),
        (
            "%d/%m/%Y %H:%M %z",
            "02/01/2025 10:00 -0500",
            None,
            datetime(2025, 1, 2, 15, 0, tzinfo=UTC),
        ),
        (None, "2025-07-01T12:00:00Z", None, datetime(2025, 7, 1, 12, 0, tzinfo=UTC)),
        (None, "2025-07-01 12:00:00", "America/New_York", datetime(2025, 7, 1, 16, 0, tzinfo=UTC)),
    ],
)
def test_time_formats(tmp_path, time_format, value, timezone, expected):
    path = write_csv(tmp_path / "t.csv", ["acct", "amount", "t"], [["a", "5", value]])
    args = [str(path), "--map", "account_id=acct", "amount=amount", "occurred_at=t"]
    if time_format:
        args += ["--time-format", time_format]
    if timezone:
        args += ["--timezone", timezone]
    out, err = run(*args)
    assert "1 imported" in out, err
    assert Transaction.objects.get().occurred_at == expected


@pytest.mark.django_db
def test_times_without_a_zone_need_timezone(tmp_path):
    # One clear error that stops the import (it used to be one error per line and go on).
    path = write_csv(tmp_path / "t.csv", ["acct", "amount", "t"], [["a", "5", "2025-07-01 12:00"]])
    with pytest.raises(CommandError, match=r"line 2: occurred_at .*--timezone"):
        run(str(path), "--map", "account_id=acct", "amount=amount", "occurred_at=t")
    assert not Transaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "account_id=acct", "amount=amount"], "must give occurred_at"),
        (["--map", "account_id=acct", "amount=amount", "occurred_at=nope"], "'nope' not in"),
        (
            ["--map", "account_id=acct", "amount=amount", "occurred_at=t", "colour=acct"],
            "unknown field 'colour'",
        ),
        (["--map", "account_id", "amount=amount", "occurred_at=t"], "expected field=column"),
        (
            [
                "--map",
                "account_id=acct",
                "amount=amount",
                "occurred_at=t",
                "--timezone",
                "Mars/Base",
            ],
            "not a known time zone",
        ),
        (
            [
                "--map",
                "account_id=acct",
                "amount=amount",
                "occurred_at=t",
                "--time-format",
                "offset:w:2025-01-01",
            ],
            "expected offset:<ms|s|min|h|d>",
        ),
        (
            ["--map", "account_id=acct", "amount=amount", "occurred_at=t", "--time-format", "DMY"],
            "strftime pattern",
        ),
    ],
)
def test_bad_options_are_refused_before_anything_is_stored(tmp_path, args, message):
    path = write_csv(tmp_path / "t.csv", ["acct", "amount", "t"], [["a", "5", "2025-07-01Z"]])
    with pytest.raises(CommandError, match=message):
        run(str(path), *args)
    assert not Transaction.objects.exists()


@pytest.mark.django_db
def test_constants_and_validation_like_the_api(tmp_path):
    rows = [["a", "5", "2025-07-01T10:00:00Z", "US"], ["a", "6", "2025-07-01T11:00:00Z", "XX"]]
    path = write_csv(tmp_path / "t.csv", ["acct", "amount", "t", "cc"], rows)
    _, err = run(
        str(path),
        "--map",
        "account_id=acct",
        "amount=amount",
        "occurred_at=t",
        "country=cc",
        "currency=:usd",
        "channel=:ecom",
    )
    assert "line 3: country: 'XX' is not an ISO 3166" in err
    (txn,) = Transaction.objects.all()
    assert (txn.currency, txn.channel, txn.country) == ("USD", "ecom", "US")


@pytest.mark.django_db
def test_score_enqueues_instead_of_storing_history(
    card_file, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[list[int]] = []
    monkeypatch.setattr(
        "scoring.queueing.score_batch_send", lambda ids, request_id=None: sent.append(ids)
    )
    with django_capture_on_commit_callbacks(execute=True):
        run(str(card_file), *CARD_MAP, "--score", "--on-bad-line", "skip")
    pending = Transaction.objects.filter(status=Transaction.Status.PENDING)
    assert pending.count() == 2 and sorted(i for batch in sent for i in batch) == sorted(
        p.id for p in pending
    )


@pytest.mark.django_db
def test_numeric_metadata_become_model_features(tmp_path, synthetic_history):
    """Partner attributes imported as unmapped columns end up as ``meta_*`` features."""
    frame = synthetic_history.head(3000).copy()
    # A partner score that varies per transaction (higher for fraud) and a customer attribute.
    frame["partner_score"] = frame["is_fraud"] * 5 + (frame["id"] % 7)
    frame["home_zip"] = frame["account_id"].str[-4:]
    frame["occurred_at"] = frame["occurred_at"].map(lambda t: t.isoformat())
    columns = [
        "external_id",
        "account_id",
        "amount",
        "occurred_at",
        "merchant_id",
        "country",
        "is_fraud",
        "partner_score",
        "home_zip",
    ]
    path = tmp_path / "partner.csv"
    frame[columns].to_csv(path, index=False)
    mapping = [f"{c}={c}" for c in columns[:6]]
    out, err = run(str(path), "--map", *mapping, "--label-column", "is_fraud")
    assert "3,000 imported" in out, err
    stored = transactions_frame()
    assert stored["metadata"].map(lambda m: set(m)).eq({"partner_score", "home_zip"}).all()
    trained = train(stored, seed=0)
    assert "meta_partner_score" in trained.artifact["feature_names"]
    assert "meta_home_zip" not in trained.artifact["feature_names"]  # identifies the customer
    assert trained.summary["metadata_features"] == ["meta_partner_score"]
    json.dumps(trained.summary)  # the registry stores it as JSON


@pytest.mark.django_db
def test_import_applies_the_ingest_bounds_by_line(tmp_path):
    path = write_csv(
        tmp_path / "bounds.csv",
        ["when", "card", "amt", "note"],
        [
            ["2025-01-01T10:00:00Z", "4111", "12.50", "fine"],  # line 2
            ["2300-01-01T00:00:00Z", "4111", "12.50", "future"],  # 3: after the window
            ["2025-01-01T10:00:00Z", "4111", "12.50", "x" * 9000],  # 4: metadata too large
            ["2025-01-01T10:00:00Z", "a" * 101, "12.50", "long id"],  # 5: account_id too long
        ],
    )
    _, err = run(str(path), "--map", "occurred_at=when", "account_id=card", "amount=amt")
    assert Transaction.objects.count() == 1
    assert "line 3: occurred_at: Date-time is after" in err
    assert "line 4: metadata: At most 8,192 bytes" in err
    assert "line 5: account_id: Ensure this field has no more than 100 characters." in err
