"""The benchmark's data sets import with the mapping they print (``python -m bench.datasets``),
and the product reads them as the benchmark does (``to_frame``): same rows, same frauds."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from bench.datasets import registry, to_frame
from scoring.models import Transaction

pytestmark = pytest.mark.django_db
ROWS = 400
GENERATED = ("benefits", "mobile_money", "pca_cards", "ecommerce")


def _arguments(data, path) -> list[str]:
    m = data.mapping
    args = [str(path), "--map", *(f"{k}={v}" for k, v in m.fields.items())]
    args += ["--label-column", m.label, "--no-progress", "--amount-rounding", "half-up"]
    if m.time != "datetime":
        _, unit, start = m.time
        args += ["--time-format", f"offset:{unit}:{start}"]
    if m.drop:
        args += ["--drop", *m.drop]
    return args


@pytest.mark.parametrize("name", GENERATED)
def test_a_data_set_imports_with_its_printed_mapping(name, tmp_path):
    data = registry()[name]
    table = data.make().head(ROWS)
    path = tmp_path / f"{name}.csv"
    table.to_csv(path, index=False)
    out = io.StringIO()
    call_command("import_transactions", *_arguments(data, path), stdout=out, stderr=io.StringIO())
    expected = to_frame(table, data.mapping)
    stored = Transaction.objects.all()
    assert stored.count() == len(expected), out.getvalue()
    assert stored.filter(is_fraud=True).count() == int(expected["is_fraud"].sum())


def test_the_ecommerce_set_has_the_shape_it_claims():
    table = registry()["ecommerce"].make()
    assert 0.02 < table["isFraud"].mean() < 0.045
    decimals = table["TransactionAmt"].map(lambda v: len(f"{v:.3f}".rstrip("0").split(".")[1]))
    assert (decimals == 3).any()  # some amounts need --amount-rounding
    assert table["addr1"].isna().any() and table["dist1"].isna().any()
    assert table["card1"].nunique() < len(table)
