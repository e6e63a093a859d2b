"""``import_transactions``: the problems a new user hit (issue 13), each with its option or fix.

Amounts with more than 2 decimals or below 0.01, offset units and factors, a joined second file,
blank-named columns, time zones (start of an offset, a missing ``--timezone``), numeric labels,
the CSV path after the ``--map`` pairs, and the import as all or nothing.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEvent
from scoring.models import Transaction

from .import_helpers import run, write_csv

BASE_MAP = ["--map", "account_id=acct", "amount=amt", "occurred_at=t"]


def amounts_file(tmp_path) -> Path:
    rows = [
        ["a", "12.345", "2025-01-01T10:00:00Z", "1"],  # line 2: 3 decimals, fraud
        ["a", "0.004", "2025-01-01T11:00:00Z", "0"],  # 3: rounds to 0.00
        ["a", "0.005", "2025-01-01T12:00:00Z", "1"],  # 4: half-even 0.00, half-up 0.01
        ["a", "0", "2025-01-01T13:00:00Z", "0"],  # 5: zero
        ["a", "7.50", "2025-01-01T14:00:00Z", "0"],  # 6: fine
        ["a", "2.675", "2025-01-01T15:00:00Z", "0"],  # 7: half-even 2.68 (Decimal, not float)
    ]
    return write_csv(tmp_path / "amounts.csv", ["acct", "amt", "t", "fraud"], rows)


def stored_amounts() -> dict[str, Decimal]:
    return {t.external_id.rsplit("-", 1)[1]: t.amount for t in Transaction.objects.all()}


@pytest.mark.django_db
class TestAmounts:
    def test_by_default_a_fraud_with_three_decimals_refuses_the_import(self, tmp_path):
        path = amounts_file(tmp_path)
        with pytest.raises(CommandError, match=r"labelled fraud cannot be imported \(lines 2, 4\)"):
            run(str(path), *BASE_MAP, "--label-column", "fraud")
        assert not Transaction.objects.exists()  # all or nothing: line 6 is not in either

    def test_skipping_still_counts_and_lists_the_lost_frauds(self, tmp_path):
        out, err = run(
            str(amounts_file(tmp_path)), *BASE_MAP, "--label-column", "fraud",
            "--on-bad-line", "skip",
        )  # fmt: skip
        assert "line 2: amount: Ensure that there are no more than 2 decimal places." in err
        assert "(column 'amt': '12.345')" in err
        assert "line 5: amount: Ensure this value is greater than or equal to 0.01." in err
        assert "1 imported" in out and "5 bad line(s)" in out
        assert "2 line(s) labelled fraud were NOT imported (lines 2, 4)" in out
        event = AuditEvent.objects.get(action="transaction.import")
        assert event.after["lost_frauds"] == 2

    @pytest.mark.parametrize(
        ("rounding", "expected"),
        [
            ("half-even", {"2": "12.34", "4": "0.01", "6": "7.50", "7": "2.68"}),
            ("half-up", {"2": "12.35", "4": "0.01", "6": "7.50", "7": "2.68"}),
        ],
    )
    def test_rounding_and_clamping_keep_every_row(self, tmp_path, rounding, expected):
        out, _ = run(
            str(amounts_file(tmp_path)), *BASE_MAP, "--label-column", "fraud",
            "--amount-rounding", rounding, "--amount-minimum-policy", "clamp",
        )  # fmt: skip
        assert "6 imported" in out
        amounts = stored_amounts()
        assert {k: str(amounts[k]) for k in expected} == expected
        assert amounts["3"] == amounts["5"] == Decimal("0.01")  # clamped
        assert "raised to 0.01" in out

    def test_half_even_and_half_up_differ_on_a_half_cent(self, tmp_path):
        path = write_csv(
            tmp_path / "half.csv", ["acct", "amt", "t"], [["a", "0.125", "2025-01-01T10:00:00Z"]]
        )
        run(str(path), *BASE_MAP, "--amount-rounding", "half-even")
        assert Transaction.objects.get().amount == Decimal("0.12")
        Transaction.objects.all().delete()
        run(str(path), *BASE_MAP, "--amount-rounding", "half-up")
        assert Transaction.objects.get().amount == Decimal("0.13")

    def test_drop_skips_tiny_amounts_and_names_them(self, tmp_path):
        out, err = run(
            str(amounts_file(tmp_path)), *BASE_MAP, "--label-column", "fraud",
            "--amount-rounding", "half-even", "--amount-minimum-policy", "drop",
        )  # fmt: skip
        assert "3 imported" in out and "3 row(s) dropped" in out
        assert "line 4: amount 0.00 is below 0.01 (--amount-minimum-policy drop)" in err
        assert "1 line(s) labelled fraud were NOT imported (lines 4)" in out
        assert set(stored_amounts()) == {"2", "6", "7"}

    def test_negative_amounts_are_never_clamped(self, tmp_path):
        path = write_csv(
            tmp_path / "neg.csv", ["acct", "amt", "t"], [["a", "-0.001", "2025-01-01T10:00:00Z"]]
        )
        _, err = run(
            str(path), *BASE_MAP, "--amount-rounding", "half-up",
            "--amount-minimum-policy", "clamp",
        )  # fmt: skip
        assert "line 2: amount: Ensure this value is greater than or equal to 0.01." in err
        assert not Transaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("time_format", "value", "expected"),
    [
        ("offset:ms:2025-01-01T00:00:00Z", "1500", datetime(2025, 1, 1, 0, 0, 1, 500000)),
        ("offset:min:2025-01-01T00:00:00Z", "90", datetime(2025, 1, 1, 1, 30)),
        ("offset:d:2025-01-01T00:00:00Z", "1.5", datetime(2025, 1, 2, 12, 0)),
        ("offset:s*3600:2025-01-01T00:00:00Z", "2", datetime(2025, 1, 1, 2, 0)),
        ("offset:min*15:2025-01-01T00:00:00+01:00", "4", datetime(2025, 1, 1, 0, 0)),
        ("offset:h:2025-01-01T00:00:00Z", "-1", datetime(2024, 12, 31, 23, 0)),
        ("unix", "1735725600", datetime(2025, 1, 1, 10, 0)),
    ],
)
def test_offset_units_and_factors(tmp_path, time_format, value, expected):
    path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], [["a", "5", value]])
    out, err = run(str(path), *BASE_MAP, "--time-format", time_format)
    assert "1 imported" in out, err
    assert Transaction.objects.get().occurred_at == expected.replace(tzinfo=UTC)


@pytest.mark.django_db
def test_offsets_are_elapsed_time_across_a_dst_change(tmp_path):
    """Paris moved its clocks on 2025-03-30: 24 hours after noon the day before is 13:00 local."""
    path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], [["a", "5", "24"]])
    run(str(path), *BASE_MAP, "--time-format", "offset:h:2025-03-29T12:00:00",
        "--timezone", "Europe/Paris")  # fmt: skip
    assert Transaction.objects.get().occurred_at == datetime(2025, 3, 30, 11, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("time_format", "message"),
    [
        ("offset:m:2025-01-01T00:00:00Z", "'m' is ambiguous: write min"),
        ("offset:s*0:2025-01-01T00:00:00Z", "factor after '\\*' must be a positive number"),
        ("offset:s*x:2025-01-01T00:00:00Z", "factor after '\\*' must be a positive number"),
        ("offset:s", "expected offset:<ms|s|min|h|d>"),
        ("offset:s:tomorrow", "bad start 'tomorrow'"),
        # A start without a zone is a message (it was a traceback), naming the fix.
        ("offset:h:2025-01-01T00:00:00", "has no time zone; add one .* or give --timezone"),
    ],
)
def test_bad_offset_formats_are_refused_with_the_syntax(tmp_path, time_format, message):
    path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], [["a", "5", "1"]])
    with pytest.raises(CommandError, match=message):
        run(str(path), *BASE_MAP, "--time-format", time_format)


@pytest.mark.django_db
def test_offsets_that_are_not_numbers_are_bad_lines(tmp_path):
    rows = [["a", "5", "1"], ["a", "5", "soon"], ["a", "5", "1e300"], ["a", "5", "inf"]]
    path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], rows)
    out, err = run(str(path), *BASE_MAP, "--time-format", "offset:s:2025-01-01T00:00:00Z")
    assert "line 3: occurred_at: cannot read 'soon'" in err
    assert "line 4: occurred_at: cannot read '1e300'" in err  # beyond any date: no traceback
    assert "line 5: occurred_at: cannot read 'inf'" in err
    assert "1 imported" in out


@pytest.mark.django_db
class TestTimeZones:
    def test_a_missing_timezone_stops_at_the_first_line_with_one_message(self, tmp_path):
        rows = [["a", "5", f"2025-07-01 12:{i % 60:02d}:00"] for i in range(5039)]
        path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], rows)
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError) as caught:
            call_command(
                "import_transactions", str(path), *BASE_MAP, "--no-progress",
                "--time-format", "%Y-%m-%d %H:%M:%S", stdout=out, stderr=err,
            )  # fmt: skip
        message = str(caught.value)
        assert message.startswith("line 2: occurred_at (column 't': '2025-07-01 12:00:00')")
        assert "give --timezone (e.g. --timezone UTC)" in message
        assert err.getvalue() == ""  # not one error per line
        assert not Transaction.objects.exists()

    def test_iso_times_without_a_zone_stop_too(self, tmp_path):
        rows = [["a", "5", "2025-07-01T10:00:00Z"], ["a", "5", "2025-07-01T12:00:00"]]
        path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], rows)
        with pytest.raises(CommandError, match=r"line 3: occurred_at .*--timezone"):
            run(str(path), *BASE_MAP)
        assert not Transaction.objects.exists()  # line 2 was fine, and is not stored either

    def test_options_that_fit_no_line_stop_after_the_first_lines(self, tmp_path):
        rows = [["a", "5", f"01/07/2025 12:{i % 60:02d}"] for i in range(3000)]
        path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], rows)
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(
            CommandError, match=r"The first 100 lines are all invalid, .*\(line 2: occurred_at: "
        ):
            call_command(
                "import_transactions", str(path), *BASE_MAP, "--no-progress",
                "--time-format", "%Y-%m-%d %H:%M", "--timezone", "UTC", "--chunk-size", "100",
                stdout=out, stderr=err,
            )  # fmt: skip
        assert err.getvalue() == ""

    def test_local_times_are_read_in_the_zone(self, tmp_path):
        rows = [["a", "5", "2025-07-01 12:00:00"], ["a", "5", "2025-01-01 12:00:00"]]
        path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], rows)
        run(str(path), *BASE_MAP, "--time-format", "%Y-%m-%d %H:%M:%S",
            "--timezone", "Europe/Paris")  # fmt: skip
        assert sorted(Transaction.objects.values_list("occurred_at", flat=True)) == [
            datetime(2025, 1, 1, 11, 0, tzinfo=UTC),
            datetime(2025, 7, 1, 10, 0, tzinfo=UTC),
        ]

    def test_values_pandas_cannot_hold_fall_back_to_strptime(self, tmp_path):
        """Year 2300 is beyond pandas' timestamps: Python reads it, the validator refuses it."""
        rows = [["a", "5", "2300-01-01 00:00:00"], ["a", "5", "2025-01-01 00:00:00"]]
        path = write_csv(tmp_path / "t.csv", ["acct", "amt", "t"], rows)
        _, err = run(str(path), *BASE_MAP, "--time-format", "%Y-%m-%d %H:%M:%S",
                     "--timezone", "UTC")  # fmt: skip
        assert "line 2: occurred_at: Date-time is after" in err
        assert Transaction.objects.count() == 1


@pytest.mark.django_db
class TestLabels:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1.0", True), ("0.0", False), ("1", True), ("0", False), ("1.00", True),
            ("1e0", True), ("-0", False), ("True", True), ("FALSE", False), ("yes", True),
            ("n", False), ("fraud", True), ("legit", False), ("", None),
        ],
    )  # fmt: skip
    def test_numeric_and_word_forms(self, tmp_path, text, expected):
        path = write_csv(
            tmp_path / "l.csv", ["acct", "amt", "t", "y"], [["a", "5", "2025-01-01T10:00Z", text]]
        )
        out, err = run(str(path), *BASE_MAP, "--label-column", "y")
        assert "1 imported" in out, err
        assert Transaction.objects.get().is_fraud is expected

    @pytest.mark.parametrize("text", ["2", "0.5", "maybe", "nan"])
    def test_other_values_are_bad_lines_naming_the_label(self, tmp_path, text):
        path = write_csv(
            tmp_path / "l.csv", ["acct", "amt", "t", "y"], [["a", "5", "2025-01-01T10:00Z", text]]
        )
        _, err = run(str(path), *BASE_MAP, "--label-column", "y")
        assert f"line 2: label {text!r} is not 1/0" in err


@pytest.mark.django_db
class TestColumns:
    def test_a_blank_named_column_can_be_dropped(self, tmp_path):
        # pandas' to_csv writes its index as a blank-named first column.
        path = write_csv(
            tmp_path / "b.csv", ["", "acct", "amt", "t", "x"], [["0", "a", "5", "2025-01-01Z", "7"]]
        )
        path.write_text(path.read_text().replace("2025-01-01Z", "2025-01-01T00:00:00Z"))
        run(str(path), *BASE_MAP, "--drop", "")
        assert Transaction.objects.get().metadata == {"x": 7}

    def test_columns_by_position_and_blank_names_in_metadata(self, tmp_path):
        path = write_csv(
            tmp_path / "b.csv",
            ["", "acct", "amt", "t", "x", "x"],
            [["0", "a", "5", "2025-01-01T00:00:00Z", "7", "8"]],
        )
        run(str(path), *BASE_MAP, "--drop", "#5")
        assert Transaction.objects.get().metadata == {"column_1": 0, "x": 8}

    @pytest.mark.parametrize(
        ("drop", "message"),
        [
            ("#9", r"has 5 columns \(#1..#5\)"),
            ("x", r"2 columns of b.csv have that name \(#4, #5\).*'#4'"),
            ("nope", "column 'nope' not in the header"),
        ],
    )
    def test_unknown_or_ambiguous_columns_are_refused(self, tmp_path, drop, message):
        path = write_csv(
            tmp_path / "b.csv",
            ["acct", "amt", "t", "x", "x"],
            [["a", "5", "2025-01-01T00:00:00Z", "7", "8"]],
        )
        with pytest.raises(CommandError, match=message):
            run(str(path), *BASE_MAP, "--drop", drop)


@pytest.mark.django_db
class TestArguments:
    def test_the_csv_path_may_follow_the_map_pairs(self, tmp_path):
        path = write_csv(tmp_path / "p.csv", ["acct", "amt", "t"], [["a", "5", "2025-01-01Z"]])
        path.write_text(path.read_text().replace("2025-01-01Z", "2025-01-01T00:00:00Z"))
        out, _ = run(*BASE_MAP, str(path))
        assert "1 imported" in out

    def test_the_csv_path_may_follow_the_dropped_columns(self, tmp_path):
        path = write_csv(
            tmp_path / "p.csv", ["acct", "amt", "t", "x"], [["a", "5", "2025-01-01T00:00:00Z", "1"]]
        )
        out, _ = run(*BASE_MAP, "--drop", "x", str(path))
        assert "1 imported" in out and Transaction.objects.get().metadata == {}

    def test_no_path_at_all_is_a_message(self):
        with pytest.raises(CommandError, match="Give the CSV file's path"):
            run(*BASE_MAP)


def identity_files(tmp_path, identity_rows) -> tuple[Path, Path]:
    left = write_csv(
        tmp_path / "tx.csv",
        ["TransactionID", "acct", "amt", "t"],
        [[f"T{i}", "a", "5", f"2025-01-01T10:0{i}:00Z"] for i in range(4)],
    )
    right = write_csv(
        tmp_path / "identity.csv", ["TransactionID", "DeviceInfo", "id_01"], identity_rows
    )
    return left, right


@pytest.mark.django_db
class TestJoin:
    def test_left_join_on_a_key(self, tmp_path):
        left, right = identity_files(
            tmp_path, [["T2", "SM-G9", "-5"], ["T0", "iOS", "0"], ["T9", "x", "1"]]
        )
        out, err = run(
            str(left), *BASE_MAP, "external_id=TransactionID", "device_id=DeviceInfo",
            "--join", str(right), "--join-on", "TransactionID",
        )  # fmt: skip
        assert "4 imported" in out, err
        assert "2 row(s) matched, 2 without a match" in out
        rows = {t.external_id: t for t in Transaction.objects.all()}
        assert (rows["T0"].device_id, rows["T0"].metadata) == ("iOS", {"id_01": 0})
        assert (rows["T2"].device_id, rows["T2"].metadata) == ("SM-G9", {"id_01": -5})
        assert (rows["T1"].device_id, rows["T1"].metadata) == ("", {})

    def test_keys_with_different_names(self, tmp_path):
        left, right = identity_files(tmp_path, [["T1", "iOS", "3"]])
        right.write_text(right.read_text().replace("TransactionID", "tid", 1))
        out, _ = run(str(left), *BASE_MAP, "--join", str(right), "--join-on", "TransactionID=tid")
        assert "1 row(s) matched" in out
        assert Transaction.objects.get(external_id__endswith="-3").metadata == {
            "TransactionID": "T1", "DeviceInfo": "iOS", "id_01": 3,
        }  # fmt: skip

    def test_a_repeated_key_in_the_joined_file_names_both_lines(self, tmp_path):
        left, right = identity_files(
            tmp_path, [["T1", "iOS", "3"], ["T2", "x", "1"], ["T1", "y", "2"]]
        )
        with pytest.raises(CommandError, match=r"identity.csv line 4: key 'T1' repeats line 2"):
            run(str(left), *BASE_MAP, "--join", str(right), "--join-on", "TransactionID")

    def test_a_missing_key_column_is_named(self, tmp_path):
        left, right = identity_files(tmp_path, [["T1", "iOS", "3"]])
        with pytest.raises(
            CommandError, match=r"--join-on: column 'tid' not in the header of identity.csv"
        ):
            run(str(left), *BASE_MAP, "--join", str(right), "--join-on", "tid")
        with pytest.raises(
            CommandError, match=r"--join-on: column 'DeviceInfo' not in the header of tx.csv"
        ):
            run(str(left), *BASE_MAP, "--join", str(right), "--join-on", "DeviceInfo")

    def test_join_needs_join_on(self, tmp_path):
        left, right = identity_files(tmp_path, [["T1", "iOS", "3"]])
        with pytest.raises(CommandError, match="--join and --join-on go together"):
            run(str(left), *BASE_MAP, "--join", str(right))


@pytest.mark.django_db
class TestAllOrNothing:
    def test_refuse_policy_stores_nothing_and_lists_every_bad_line(self, tmp_path):
        rows = [["a", "5", "2025-01-01T10:00:00Z"], ["", "5", "2025-01-01T10:00:00Z"]] * 3
        path = write_csv(tmp_path / "r.csv", ["acct", "amt", "t"], rows)
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError, match="3 bad line"):
            call_command(
                "import_transactions", str(path), *BASE_MAP, "--no-progress", "--chunk-size", "2",
                "--on-bad-line", "refuse", stdout=out, stderr=err,
            )  # fmt: skip
        assert [line.split(":")[0] for line in err.getvalue().splitlines()] == [
            "line 3", "line 5", "line 7",
        ]  # fmt: skip
        assert not Transaction.objects.exists()
        assert not AuditEvent.objects.filter(action="transaction.import").exists()

    def test_report_file_lists_every_line_left_out(self, tmp_path):
        rows = [["a", "5", "2025-01-01T10:00:00Z"], ["a", "x", "2025-01-01T10:00:00Z"]]
        path = write_csv(tmp_path / "r.csv", ["acct", "amt", "t"], rows)
        report = tmp_path / "report.csv"
        run(str(path), *BASE_MAP, "--report", str(report))
        assert list(csv.reader(report.open())) == [
            ["line", "problem"],
            ["3", "amount: A valid number is required. (column 'amt': 'x')"],
        ]

    def test_repeated_external_ids_in_one_chunk_are_duplicates(self, tmp_path):
        rows = [["t1", "a", "5", "2025-01-01T10:00:00Z"]] * 3
        path = write_csv(tmp_path / "r.csv", ["id", "acct", "amt", "t"], rows)
        out, _ = run(str(path), *BASE_MAP, "external_id=id")
        assert "1 imported, 2 already present" in out
