"""Labelled data sets of different shapes for the detection benchmark, made reproducibly.

Each module makes (or reads) one data set as a flat table, the way a bank would hand it over,
and knows how ``import_transactions`` maps it (``IMPORT``: ``--map`` pairs, ``--label-column``,
``--time-format``, ``--drop``). :func:`to_frame` applies the same mapping in memory and gives
the frame ``scoring.engine.evaluation.evaluate`` reads (the shape of
``scoring.selectors.training_frame``:
mapped fields, every other column in ``metadata`` with numbers as numbers), so the benchmark
runs in seconds without a database. Write a table to CSV to import it for real::

    .venv/bin/python -m bench.datasets benefits /tmp/benefits.csv

* ``sparkov``: the shared Sparkov card sample (``/work/shared/data/sparkov-cards.csv``);
* ``product``: the product's own generator (``scoring.engine.synthetic.generate_history``);
* ``benefits``: government-benefit payments (beneficiary, scheme, amount, time, coordinates;
  ~14 % anomalies of 5 kinds);
* ``mobile_money``: PaySim-style transfers with sender and receiver balances, one row per
  sender mostly;
* ``pca_cards``: card payments with only PCA-anonymised features, time and amount, no entity;
* ``ecommerce``: card-not-present payments in the shape of IEEE-CIS (card, address and e-mail
  codes, counts, device), 3-decimal amounts, ``card1`` as the entity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Mapping:
    """How the table is imported: ``fields`` maps transaction fields to columns (a value
    starting with ``:`` is a constant, as in ``--map currency=:USD``); ``label`` and
    ``pattern`` are the label and fraud-pattern columns; ``drop`` never reaches the database;
    ``time``: ``"datetime"`` (text or datetime column) or ``("offset", unit, start)``."""

    fields: dict[str, str]
    label: str
    pattern: str | None = None
    drop: tuple[str, ...] = ()
    time: tuple | str = "datetime"
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _times(values: pd.Series, how) -> pd.Series:
    if how == "datetime":
        return pd.to_datetime(values, utc=True)
    _, unit, start = how
    seconds = pd.to_numeric(values).astype(float) * {"s": 1, "h": 3600}[unit]
    return pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")


def to_frame(table: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """The table as the engine reads it after ``import_transactions`` with ``mapping``."""
    out = pd.DataFrame(index=range(len(table)))
    table = table.reset_index(drop=True)
    used = {mapping.label, *(mapping.drop)}
    if mapping.pattern:
        used.add(mapping.pattern)
    for name, column in mapping.fields.items():
        if column.startswith(":"):
            out[name] = column[1:]
            continue
        used.add(column)
        values = table[column]
        if name == "occurred_at":
            out[name] = _times(values, mapping.time)
        elif name in ("latitude", "longitude"):
            out[name] = pd.to_numeric(values, errors="coerce").astype(float)
        elif name == "amount":
            out[name] = pd.to_numeric(values).astype(float).round(2)
        else:
            out[name] = values.astype(str).where(values.notna(), "")
    rest = [c for c in table.columns if c not in used]
    numeric = {c: pd.to_numeric(table[c], errors="coerce") for c in rest}
    meta = pd.DataFrame(
        {c: numeric[c].where(numeric[c].notna(), table[c]) for c in rest}, index=table.index
    )
    records = meta.to_dict("records") if rest else [{}] * len(table)
    out["metadata"] = [{k: v for k, v in r.items() if not _blank(v)} for r in records]
    out["is_fraud"] = pd.to_numeric(table[mapping.label]).astype(float)
    if mapping.pattern:
        out["fraud_pattern"] = table[mapping.pattern].fillna("").astype(str)
    out = out[out["amount"] >= 0.01].copy()  # what the validator accepts (see the README)
    out = out.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    out.insert(0, "id", np.arange(1, len(out) + 1))
    return out


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


@dataclass(frozen=True)
class DataSet:
    """A named data set: how to make its table and how it is imported."""

    name: str
    make: Callable[[], pd.DataFrame]
    mapping: Mapping

    def frame(self) -> pd.DataFrame:
        return to_frame(self.make(), self.mapping)


def registry() -> dict[str, DataSet]:
    """Every data set of the benchmark, by name (imports are local: each module is small)."""
    from . import benefits, ecommerce, mobile_money, pca_cards, product, sparkov

    modules = (sparkov, product, benefits, mobile_money, pca_cards, ecommerce)
    sets = [m.DATASET for m in modules]
    return {s.name: s for s in sets}
