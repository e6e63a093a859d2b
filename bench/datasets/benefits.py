"""Synthetic government-benefit payments (the shape of issue 13's hidden set), seeded.

Beneficiaries draw on one scheme each (pension, unemployment, housing, disability, child) at
the offices of their home region, in office hours, for amounts near their entitlement. About
14 % of rows are anomalies of five kinds (``anomaly_type``):

* ``unusual_amount``: 3-8x the beneficiary's entitlement, otherwise an ordinary claim;
* ``off_hours``: an ordinary claim between 00:00 and 05:00;
* ``high_frequency``: 5-12 small claims by one beneficiary within a few hours;
* ``collusion_ring``: 4-8 beneficiaries of different regions claim round amounts at one
  office within an hour;
* ``out_of_region``: an ordinary claim at an office of another region.

Columns: ``payment_id, beneficiary_id, scheme, amount, paid_at, lat, lon, office_id, channel,
region_code, age, household_size, is_anomaly, anomaly_type``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import DataSet, Mapping

SEED = 13
BENEFICIARIES = 2000
DAYS = 90
START = pd.Timestamp("2025-01-01T00:00:00Z")
SCHEMES = {"pension": 900, "unemployment": 600, "housing": 400, "disability": 750, "child": 250}
REGIONS = 12
OFFICES_PER_REGION = 6
DAILY_RATE = 0.3
ANOMALY_SHARE = 0.14  # of all rows
KINDS = ("unusual_amount", "off_hours", "high_frequency", "collusion_ring", "out_of_region")


def make(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(41, 51, REGIONS), rng.uniform(-4, 14, REGIONS)])
    office_region = np.repeat(np.arange(REGIONS), OFFICES_PER_REGION)
    office_xy = centres[office_region] + rng.normal(0, 0.15, (len(office_region), 2))
    n = BENEFICIARIES
    region = rng.integers(0, REGIONS, n)
    scheme_names = np.array(list(SCHEMES))
    scheme = rng.integers(0, len(SCHEMES), n)
    entitlement = np.array(list(SCHEMES.values()))[scheme] * rng.lognormal(0, 0.2, n)
    age = np.where(scheme == 0, rng.integers(66, 95, n), rng.integers(18, 66, n))
    household = rng.integers(1, 7, n)
    # Each beneficiary uses two offices of their region.
    own_offices = region[:, None] * OFFICES_PER_REGION + rng.integers(0, OFFICES_PER_REGION, (n, 2))

    counts = rng.poisson(DAILY_RATE * DAYS * rng.uniform(0.5, 1.5, n))
    who = np.repeat(np.arange(n), counts)
    legit = _claims(rng, who, entitlement, own_offices, office_xy)
    parts = [legit.assign(anomaly_type="")]
    per_kind = int(len(legit) * ANOMALY_SHARE / (1 - ANOMALY_SHARE) / len(KINDS))

    victims = rng.integers(0, n, per_kind)
    rows = _claims(rng, victims, entitlement, own_offices, office_xy)
    rows["amount"] = (
        entitlement[victims] * rng.uniform(3, 8, per_kind) * rng.uniform(0.5, 1, per_kind)
    )
    parts.append(rows.assign(anomaly_type="unusual_amount"))

    victims = rng.integers(0, n, per_kind)
    rows = _claims(rng, victims, entitlement, own_offices, office_xy)
    rows["seconds"] = rows["seconds"] // 86_400 * 86_400 + rng.integers(0, 5 * 3600, per_kind)
    parts.append(rows.assign(anomaly_type="off_hours"))

    bursts = []
    while sum(len(b) for b in bursts) < per_kind:
        size = int(rng.integers(5, 13))
        victim = np.full(size, rng.integers(0, n))
        rows = _claims(rng, victim, entitlement, own_offices, office_xy)
        rows["seconds"] = rows["seconds"].iloc[0] + np.sort(rng.integers(0, 4 * 3600, size))
        rows["amount"] = entitlement[victim] * rng.uniform(0.05, 0.3, size)
        bursts.append(rows)
    parts.append(pd.concat(bursts).iloc[:per_kind].assign(anomaly_type="high_frequency"))

    rings = []
    while sum(len(r) for r in rings) < per_kind:
        size = int(rng.integers(4, 9))
        members = rng.choice(n, size, replace=False)
        office = int(rng.integers(0, len(office_xy)))
        rows = _claims(rng, members, entitlement, own_offices, office_xy)
        rows["office"] = office
        rows[["lat", "lon"]] = office_xy[office] + rng.normal(0, 0.002, (size, 2))
        rows["seconds"] = rows["seconds"].iloc[0] + rng.integers(0, 3600, size)
        rows["amount"] = float(rng.choice([300, 400, 500, 750, 1000]))
        rings.append(rows)
    parts.append(pd.concat(rings).iloc[:per_kind].assign(anomaly_type="collusion_ring"))

    victims = rng.integers(0, n, per_kind)
    rows = _claims(rng, victims, entitlement, own_offices, office_xy)
    far = (region[victims] + rng.integers(3, REGIONS - 2, per_kind)) % REGIONS
    rows["office"] = far * OFFICES_PER_REGION + rng.integers(0, OFFICES_PER_REGION, per_kind)
    rows[["lat", "lon"]] = office_xy[rows["office"]] + rng.normal(0, 0.01, (per_kind, 2))
    parts.append(rows.assign(anomaly_type="out_of_region"))

    table = pd.concat(parts, ignore_index=True)
    table["seconds"] = table["seconds"].clip(0, DAYS * 86_400 - 1)
    table = table.sort_values("seconds", kind="stable").reset_index(drop=True)
    b = table["who"].to_numpy()
    return pd.DataFrame(
        {
            "payment_id": [f"P{i:07d}" for i in range(len(table))],
            "beneficiary_id": [f"B{i:05d}" for i in b],
            "scheme": scheme_names[scheme[b]],
            "amount": table["amount"].round(2).clip(lower=1.0),
            "paid_at": (START + pd.to_timedelta(table["seconds"], unit="s")).dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "lat": table["lat"].round(5),
            "lon": table["lon"].round(5),
            "office_id": [f"OF{o:03d}" for o in table["office"]],
            "channel": table["channel"],
            "region_code": region[b],
            "age": age[b],
            "household_size": household[b],
            "is_anomaly": (table["anomaly_type"] != "").astype(int),
            "anomaly_type": table["anomaly_type"],
        }
    )


def _claims(rng, who, entitlement, own_offices, office_xy) -> pd.DataFrame:
    """Ordinary claims of beneficiaries ``who``: office hours on weekdays mostly, at one of
    their two offices, for an amount near their entitlement."""
    who = np.asarray(who)
    k = len(who)
    day = rng.integers(0, DAYS, k)
    hour = np.clip(rng.normal(12.5, 2.2, k), 8, 18.5)
    office = own_offices[who, rng.integers(0, 2, k)]
    return pd.DataFrame(
        {
            "who": who,
            "seconds": (day * 86_400 + hour * 3600).astype(np.int64),
            "amount": entitlement[who] * rng.lognormal(-0.4, 0.3, k),
            "office": office,
            "lat": office_xy[office, 0] + rng.normal(0, 0.01, k),
            "lon": office_xy[office, 1] + rng.normal(0, 0.01, k),
            "channel": rng.choice(["counter", "agent", "online"], k, p=[0.6, 0.25, 0.15]),
        }
    )


DATASET = DataSet(
    name="benefits",
    make=make,
    mapping=Mapping(
        fields={
            "external_id": "payment_id",
            "account_id": "beneficiary_id",
            "amount": "amount",
            "occurred_at": "paid_at",
            "merchant_category": "scheme",
            "merchant_id": "office_id",
            "channel": "channel",
            "latitude": "lat",
            "longitude": "lon",
        },
        label="is_anomaly",
        pattern="anomaly_type",
    ),
)
