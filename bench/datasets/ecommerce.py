"""Synthetic card-not-present e-commerce payments in the shape of IEEE-CIS (Vesta), seeded.

One row per payment over 30 days, the columns a payment processor hands over: a time offset in
seconds (``TransactionDT``), the amount with up to 3 decimals, a product code, six card codes
(``card1`` an issuer/card code, ``card4`` the network, ``card6`` debit/credit, ...), billing
region and country codes (``addr1``, ``addr2``, empty for most foreign cards), a distance
(``dist1``), the purchaser's and recipient's e-mail domains, count and time-delta features
(``C1``, ``C2``, ``D1``, ``D15``), a match flag (``M4``) and the device (``DeviceType``,
``DeviceInfo``).

Card holders have a card and a device of their own and buy at their own pace. Fraud (~3 % of
rows; 3.5 % in IEEE-CIS) comes in two kinds:

* **stolen card**: from some moment a card holder's card is used by someone else, a burst of
  3-9 payments within hours, at any hour: more digital goods (product ``C``), larger amounts,
  often another device, a risky recipient e-mail domain, far from the billing address (large
  ``dist1``), more addresses and cards seen together (``C1``, ``C2``);
* **fresh stolen cards**: cards first seen in the window (``D1`` = 0 for most), often foreign,
  with risky e-mail domains, every payment of which is fraud.

Every fraud signal is a shifted distribution that overlaps the legitimate one, never a value
only fraud has. Legitimate look-alikes keep it from being trivial: some holders buy digital
goods, travel (large ``dist1``), use several devices, have foreign cards or are new customers.
The entity a new user maps is ``card1`` (several holders may share one code, as in the real
data set).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import DataSet, Mapping

SEED = 31
HOLDERS = 14_000
DAYS = 30
START = "2025-06-01T00:00:00Z"
STOLEN_SHARE = 0.012  # holders whose card is stolen during the window
FRESH_CARDS = 260  # stolen cards first seen in the window
PRODUCTS = {"W": 0.74, "C": 0.1, "R": 0.07, "H": 0.06, "S": 0.03}
TYPICAL = {"W": 95.0, "C": 40.0, "R": 160.0, "H": 55.0, "S": 30.0}
DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "anonymous.com", "aol.com", "comcast.net"]
DOMAIN_P = [0.45, 0.2, 0.12, 0.1, 0.07, 0.06]
RISKY_DOMAINS = ["outlook.com", "protonmail.com", "mail.com", "anonymous.com", "hotmail.com"]
NETWORKS = ["visa", "mastercard", "american express", "discover"]
DEVICES = ["Windows", "iOS Device", "MacOS", "SM-G950F", "Trident/7.0", "Moto G"]


def _holders(rng: np.random.Generator, n: int) -> pd.DataFrame:
    foreign = rng.random(n) < 0.12
    return pd.DataFrame(
        {
            "card1": rng.integers(1000, 1000 + int(n * 0.9), n),
            "card2": rng.integers(100, 600, n).astype(float),
            "card3": np.where(foreign, rng.choice([185, 119, 144], n), 150),
            "card4": rng.choice(NETWORKS, n, p=[0.64, 0.31, 0.03, 0.02]),
            "card5": rng.choice([226, 224, 166, 102, 117], n),
            "card6": rng.choice(["debit", "credit"], n, p=[0.74, 0.26]),
            "addr1": np.where(foreign, np.nan, rng.integers(100, 540, n)),
            "addr2": np.where(foreign, np.nan, 87.0),
            "P_emaildomain": rng.choice(DOMAINS, n, p=DOMAIN_P),
            "DeviceType": rng.choice(["desktop", "mobile"], n, p=[0.6, 0.4]),
            "DeviceInfo": rng.choice(DEVICES, n),
            "typical": rng.lognormal(np.log(80), 0.7, n),
            "digital": rng.random(n) < 0.12,  # legitimate buyers of digital goods
            "traveller": rng.random(n) < 0.05,
            # days the card was known before the window; a few are new customers
            "first_seen_days": np.where(rng.random(n) < 0.04, 0, rng.integers(1, 700, n)),
            "rate": rng.gamma(2.0, 2.0, n),  # payments in the window
        }
    )


def _payments(rng, holders: pd.DataFrame, owner: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    h = holders.iloc[owner].reset_index(drop=True)
    n = len(owner)
    product = rng.choice(list(PRODUCTS), n, p=list(PRODUCTS.values()))
    product = np.where(h["digital"] & (rng.random(n) < 0.6), "C", product)
    amount = np.array([TYPICAL[p] for p in product]) * h["typical"] / 80 * rng.lognormal(0, 0.6, n)
    far = h["traveller"] & (rng.random(n) < 0.5)
    dist = np.where(far, rng.lognormal(6, 1, n), rng.lognormal(2, 1, n))
    dist = np.where(h["addr1"].isna() | (product == "C"), np.nan, dist)
    day = t / 86_400
    return pd.DataFrame(
        {
            "TransactionDT": t,
            "TransactionAmt": amount,
            "ProductCD": product,
            **{c: h[c] for c in ("card1", "card2", "card3", "card4", "card5", "card6")},
            "addr1": h["addr1"],
            "addr2": h["addr2"],
            "dist1": dist,
            "P_emaildomain": h["P_emaildomain"],
            "R_emaildomain": np.where(product == "C", h["P_emaildomain"], None),
            "C1": rng.choice([1, 1, 1, 1, 2, 2, 3, 4], n).astype(float),
            "C2": rng.choice([1, 1, 1, 2, 2, 3, 5], n).astype(float),
            "D1": np.floor(h["first_seen_days"] + day),
            "D15": np.floor(rng.uniform(0, 1, n) * (h["first_seen_days"] + day)),
            "M4": rng.choice(["M0", "M1", "M2"], n, p=[0.6, 0.3, 0.1]),
            "DeviceType": h["DeviceType"],
            "DeviceInfo": np.where(rng.random(n) < 0.06, rng.choice(DEVICES, n), h["DeviceInfo"]),
            "isFraud": 0,
        }
    )


def _legitimate(rng, holders: pd.DataFrame) -> pd.DataFrame:
    counts = rng.poisson(holders["rate"].to_numpy())
    owner = np.repeat(np.arange(len(holders)), counts)
    hour = np.clip(rng.normal(15, 4.5, len(owner)), 0, 23.99)
    t = rng.integers(0, DAYS, len(owner)) * 86_400 + (hour * 3600).astype(int)
    return _payments(rng, holders, owner, t)


def _fraud_rows(rng, rows: pd.DataFrame, *, fresh: bool) -> pd.DataFrame:
    """What a fraudster's payments look like, whoever's card they hold: shifted distributions
    that overlap the legitimate ones, never a value only fraud has."""
    n = len(rows)
    rows = rows.copy()
    rows["ProductCD"] = rng.choice(["C", "W", "H", "R"], n, p=[0.35, 0.45, 0.12, 0.08])
    rows["TransactionAmt"] = rows["TransactionAmt"] * rng.lognormal(0.3, 0.7, n)
    far = rng.random(n) < 0.5
    dist = np.where(far, rng.lognormal(5.5, 1.3, n), rows["dist1"])
    rows["dist1"] = np.where(rows["ProductCD"] == "C", np.nan, dist)
    domain = np.where(rng.random(n) < 0.5, rng.choice(RISKY_DOMAINS, n), rows["P_emaildomain"])
    rows["R_emaildomain"] = np.where(rows["ProductCD"] == "C", domain, None)
    rows["C1"] = rng.choice([1, 1, 2, 2, 3, 4, 6], n).astype(float)
    rows["C2"] = rng.choice([1, 2, 2, 3, 4, 7], n).astype(float)
    rows["M4"] = rng.choice(["M0", "M1", "M2"], n, p=[0.45, 0.2, 0.35])
    other = rng.random(n) < 0.55  # the fraudster's own device, or one like the holder's
    rows["DeviceType"] = np.where(other, rng.choice(["desktop", "mobile"], n), rows["DeviceType"])
    rows["DeviceInfo"] = np.where(other, rng.choice(DEVICES, n), rows["DeviceInfo"])
    if fresh:
        rows["P_emaildomain"] = domain
        rows["D1"] = np.where(rng.random(n) < 0.7, 0.0, rows["D1"])
        rows["D15"] = np.where(rows["D1"] == 0, 0.0, rows["D15"])
    rows["isFraud"] = 1
    return rows


def _stolen(rng, holders: pd.DataFrame) -> pd.DataFrame:
    victims = rng.choice(len(holders), int(len(holders) * STOLEN_SHARE), replace=False)
    sizes = rng.integers(3, 10, len(victims))
    owner = np.repeat(victims, sizes)
    t0 = np.repeat(rng.integers(0, (DAYS - 1) * 86_400, len(victims)), sizes)
    t = t0 + rng.integers(0, 6 * 3600, len(owner))  # within hours, at any hour
    return _fraud_rows(rng, _payments(rng, holders, owner, t), fresh=False)


def _fresh_cards(rng) -> pd.DataFrame:
    cards = _holders(rng, FRESH_CARDS)
    cards["card3"] = rng.choice([185, 119, 144, 150], FRESH_CARDS, p=[0.4, 0.2, 0.2, 0.2])
    cards["addr1"] = np.where(cards["card3"] == 150, cards["addr1"], np.nan)
    cards["addr2"] = np.where(cards["card3"] == 150, 87.0, np.nan)
    sizes = rng.integers(1, 6, FRESH_CARDS)
    owner = np.repeat(np.arange(FRESH_CARDS), sizes)
    t = np.repeat(rng.integers(0, (DAYS - 1) * 86_400, FRESH_CARDS), sizes)
    t = t + rng.integers(0, 12 * 3600, len(owner))
    return _fraud_rows(rng, _payments(rng, cards, owner, t), fresh=True)


def make(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    holders = _holders(rng, HOLDERS)
    table = pd.concat(
        [_legitimate(rng, holders), _stolen(rng, holders), _fresh_cards(rng)], ignore_index=True
    )
    table = table.sort_values("TransactionDT", kind="stable").reset_index(drop=True)
    # Amounts as processors send them: cents, and for some products a third decimal.
    third = table["ProductCD"].isin(["W", "C"]) & (rng.random(len(table)) < 0.3)
    table["TransactionAmt"] = np.where(
        third, table["TransactionAmt"].round(3), table["TransactionAmt"].round(2)
    ).clip(0.25)
    table["dist1"] = table["dist1"].round(0)
    table.insert(0, "TransactionID", np.arange(2_987_000, 2_987_000 + len(table)))
    return table


DATASET = DataSet(
    name="ecommerce",
    make=make,
    mapping=Mapping(
        fields={
            "external_id": "TransactionID",
            "account_id": "card1",
            "amount": "TransactionAmt",
            "occurred_at": "TransactionDT",
            "merchant_category": "ProductCD",
            "device_id": "DeviceInfo",
        },
        label="isFraud",
        time=("offset", "s", START),
        notes=f"add: --time-format offset:s:{START} --amount-rounding half-up (3-decimal amounts)",
    ),
)
