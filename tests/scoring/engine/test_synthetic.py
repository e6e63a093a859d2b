"""Tests for scoring.engine.synthetic (pure Python: no Django, no database)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from scoring.engine.synthetic import COLUMNS, FRAUD_PATTERNS, LiveFeed, generate_history

END = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
N_ACCOUNTS = 500
DAYS = 45
ALLOWED_KEYS = set(COLUMNS) - {"is_fraud", "fraud_pattern"}
REQUIRED_KEYS = ALLOWED_KEYS - {
    "latitude",
    "longitude",
    "device_id",
    "ip_address",
    "counterparty_id",
}
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR"}
CURRENCY |= {"NL": "EUR", "IE": "EUR"}


def _km(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return generate_history(n_accounts=N_ACCOUNTS, days=DAYS, end=END, seed=11)


@pytest.fixture(scope="module")
def legit(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["is_fraud"] == 0]


@pytest.fixture(scope="module")
def feed() -> LiveFeed:
    return LiveFeed(n_accounts=N_ACCOUNTS, seed=11)


# --- history: shape and determinism ---------------------------------------------------------


def test_same_seed_gives_identical_frame():
    a = generate_history(n_accounts=120, days=20, end=END, seed=3)
    b = generate_history(n_accounts=120, days=20, end=END, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_different_seed_gives_different_frame():
    a = generate_history(n_accounts=120, days=20, end=END, seed=3)
    b = generate_history(n_accounts=120, days=20, end=END, seed=4)
    assert len(a) != len(b) or not a["amount"].equals(b["amount"])


def test_columns_and_dtypes(df: pd.DataFrame):
    assert list(df.columns) == COLUMNS
    assert str(df["occurred_at"].dtype) == "datetime64[ns, UTC]"
    for col in ("amount", "latitude", "longitude"):
        assert df[col].dtype == np.float64
    assert df["is_fraud"].dtype == np.int64
    assert set(df["is_fraud"].unique()) == {0, 1}
    for col in ("external_id", "account_id", "merchant_id", "currency", "fraud_pattern"):
        assert df[col].map(type).eq(str).all(), col


def test_size_matches_activity_rates(df: pd.DataFrame):
    per_account_day = len(df) / (N_ACCOUNTS * DAYS)
    assert 0.5 <= per_account_day <= 2.0
    assert df["account_id"].nunique() == N_ACCOUNTS


def test_occurred_at_sorted_aware_and_inside_window(df: pd.DataFrame):
    ts = df["occurred_at"]
    assert ts.dt.tz is not None
    assert ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(END - timedelta(days=DAYS))
    assert ts.max() < pd.Timestamp(END)
    assert (ts.dt.microsecond == 0).all() and (ts.dt.nanosecond == 0).all()


def test_external_ids_unique_and_deterministic(df: pd.DataFrame):
    assert df["external_id"].is_unique
    assert df["external_id"].str.fullmatch(r"syn-11-\d+").all()


def test_identifier_formats(df: pd.DataFrame):
    assert df["account_id"].str.fullmatch(r"acct-\d{6}").all()
    assert df["merchant_id"].str.fullmatch(r"m-\d{5}").all()
    ips = df["ip_address"].dropna()
    assert len(ips) > 0
    octets = ips.str.split(".", expand=True).astype(int)
    assert octets.shape[1] == 4 and octets.ge(0).all().all() and octets.le(255).all().all()
    assert not ips.str.match(r"(10|127|192\.168)\.").any()


def test_amounts_positive_two_decimals(df: pd.DataFrame):
    assert (df["amount"] > 0).all()
    assert np.allclose(df["amount"], df["amount"].round(2))


def test_categories_and_channels(df: pd.DataFrame):
    assert set(df["channel"]) <= {"pos", "ecom", "atm"}
    assert set(df["merchant_category"]) <= {
        "grocery",
        "gas",
        "restaurant",
        "online_retail",
        "travel",
        "electronics",
        "atm",
        "utilities",
        "entertainment",
        "pharmacy",
        "transfer",
    }
    assert (df.loc[df["merchant_category"] == "atm", "channel"] == "atm").all()
    assert (df.loc[df["merchant_category"] == "transfer", "channel"] == "ecom").all()


def test_currency_follows_home_country(legit: pd.DataFrame):
    home = legit.groupby("account_id")["country"].agg(lambda s: s.mode().iloc[0])
    currency = legit.groupby("account_id")["currency"].agg(lambda s: set(s))
    for account, country in home.items():
        assert currency[account] == {CURRENCY[country]}
    assert home.nunique() >= 6


def test_coordinates_only_for_card_present(df: pd.DataFrame):
    ecom = df["channel"] == "ecom"
    assert df.loc[ecom, ["latitude", "longitude"]].isna().all().all()
    assert df.loc[~ecom, ["latitude", "longitude"]].notna().all().all()
    assert df.loc[df["channel"] == "atm", "device_id"].isna().all()
    assert df.loc[ecom, "device_id"].notna().all()


def test_counterparty_mostly_missing(df: pd.DataFrame):
    assert df["counterparty_id"].isna().mean() > 0.95
    with_cp = df["counterparty_id"].notna()
    assert (df.loc[with_cp, "merchant_category"] == "transfer").all()


# --- history: legit behaviour ---------------------------------------------------------------


def test_legit_accounts_have_habits(legit: pd.DataFrame):
    # Habitual merchants: first visits are a small share of legit traffic.
    first_visit = ~legit.duplicated(["account_id", "merchant_id"])
    assert first_visit.mean() < 0.25
    # 1-2 habitual devices per account.
    assert legit.groupby("account_id")["device_id"].nunique().max() <= 2
    # Accounts are never active at night (02:00-05:59 UTC), which unusual_time relies on.
    assert not legit["occurred_at"].dt.hour.between(0, 5).any()
    # Mostly at home; rare legitimate travel.
    home = legit.groupby("account_id")["country"].transform(lambda s: s.mode().iloc[0])
    assert 0.95 < (legit["country"] == home).mean() < 1.0


# --- history: fraud ------------------------------------------------------------------------


def test_every_pattern_present(df: pd.DataFrame):
    fraud = df[df["is_fraud"] == 1]
    assert set(fraud["fraud_pattern"]) == set(FRAUD_PATTERNS)
    assert (df.loc[df["is_fraud"] == 0, "fraud_pattern"] == "").all()
    accounts = fraud.groupby("fraud_pattern")["account_id"].nunique()
    assert accounts["collusion_ring"] >= 3
    assert (accounts >= 1).all()


def test_fraud_rate_in_band(df: pd.DataFrame):
    assert 0.005 <= df["is_fraud"].mean() <= 0.04


def test_zero_share_means_no_fraud():
    frame = generate_history(n_accounts=50, days=10, end=END, fraud_account_share=0.0)
    assert frame["is_fraud"].sum() == 0


def test_card_testing_is_tiny_ecom_at_new_merchants(df: pd.DataFrame, legit: pd.DataFrame):
    ct = df[df["fraud_pattern"] == "card_testing"]
    tiny = ct[ct["amount"] <= 3.0]
    assert (ct["channel"] == "ecom").all()
    assert (tiny["amount"] >= 0.5).all()
    # At most one cash-out purchase per episode; everything else is a tiny probe.
    assert len(ct) - len(tiny) <= ct["account_id"].nunique() * 3
    assert tiny.groupby("account_id").size().min() >= 5
    known = set(zip(legit["account_id"], legit["merchant_id"], strict=True))
    pairs = zip(tiny["account_id"], tiny["merchant_id"], strict=True)
    assert np.mean([p not in known for p in pairs]) > 0.95


def test_account_takeover_new_device_country_and_large(df: pd.DataFrame, legit: pd.DataFrame):
    ato = df[df["fraud_pattern"] == "account_takeover"]
    assert len(ato) > 0
    legit_devices = legit.groupby("account_id")["device_id"].agg(lambda s: set(s.dropna()))
    legit_countries = legit.groupby("account_id")["country"].agg(set)
    median = legit.groupby("account_id")["amount"].median()
    for row in ato.itertuples():
        assert row.device_id not in legit_devices[row.account_id]
        assert row.country not in legit_countries[row.account_id]
        assert row.amount >= 2 * median[row.account_id]


def test_velocity_burst_many_within_an_hour(df: pd.DataFrame):
    vb = df[df["fraud_pattern"] == "velocity_burst"]
    assert len(vb) > 0
    for _, g in vb.groupby("account_id"):
        # An account can (rarely) be a victim in two periods; check per burst via gaps.
        gaps = g["occurred_at"].diff().dt.total_seconds().fillna(0)
        for _, burst in g.groupby((gaps > 3600).cumsum()):
            assert 8 <= len(burst) <= 20
            span = burst["occurred_at"].max() - burst["occurred_at"].min()
            assert span <= pd.Timedelta(minutes=60)
            assert burst["merchant_id"].nunique() >= 4


def test_unusual_amount_is_far_above_usual(df: pd.DataFrame, legit: pd.DataFrame):
    ua = df[df["fraud_pattern"] == "unusual_amount"]
    assert len(ua) > 0
    median = legit.groupby("account_id")["amount"].median()
    ratio = ua["amount"].to_numpy() / median[ua["account_id"]].to_numpy()
    assert (ratio >= 5).all()
    assert set(ua["merchant_category"]) <= {"electronics", "travel"}


def test_unusual_time_is_at_night(df: pd.DataFrame):
    ut = df[df["fraud_pattern"] == "unusual_time"]
    assert len(ut) > 0
    assert ut["occurred_at"].dt.hour.between(2, 4).all()


def test_new_geography_is_far_from_home(df: pd.DataFrame, legit: pd.DataFrame):
    ng = df[df["fraud_pattern"] == "new_geography"]
    assert len(ng) > 0
    assert (ng["channel"] == "pos").all()
    home = legit.dropna(subset=["latitude"]).groupby("account_id")[["latitude", "longitude"]]
    home = home.median()
    h = home.loc[ng["account_id"]]
    dist = _km(h["latitude"].to_numpy(), h["longitude"].to_numpy(), ng["latitude"], ng["longitude"])
    assert (dist > 1000).all()


def test_collusion_ring_shares_a_counterparty_within_a_day(df: pd.DataFrame):
    cr = df[df["fraud_pattern"] == "collusion_ring"]
    assert len(cr) > 0
    assert (cr["merchant_category"] == "transfer").all()
    assert (cr["channel"] == "ecom").all()
    for _, ring in cr.groupby("counterparty_id"):
        assert 3 <= ring["account_id"].nunique() <= 6
        assert ring["occurred_at"].max() - ring["occurred_at"].min() <= pd.Timedelta(days=1)
    # Legit counterparties are private to one account, so a shared one is the tell.
    legit_cp = df[(df["is_fraud"] == 0) & df["counterparty_id"].notna()]
    assert legit_cp.groupby("counterparty_id")["account_id"].nunique().max() == 1


def test_naive_end_rejected():
    with pytest.raises(ValueError):
        generate_history(n_accounts=5, days=2, end=datetime(2026, 1, 1))


# --- live feed -----------------------------------------------------------------------------


def _check_record(rec: dict, now: datetime, max_age: timedelta) -> datetime:
    assert set(rec) <= ALLOWED_KEYS
    assert set(rec) >= REQUIRED_KEYS
    assert all(v is not None for v in rec.values())
    assert isinstance(rec["amount"], str)
    assert re.fullmatch(r"\d+\.\d{2}", rec["amount"]) and float(rec["amount"]) > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+00:00|Z)", rec["occurred_at"])
    at = datetime.fromisoformat(rec["occurred_at"].replace("Z", "+00:00"))
    assert at.utcoffset() == timedelta(0)
    assert now - max_age <= at <= now
    json.dumps(rec)
    return at


def test_live_normal_records(feed: LiveFeed, df: pd.DataFrame):
    now = datetime(2026, 3, 2, 15, 0, 7, 123456, tzinfo=UTC)
    records = feed.normal(now=now, count=50)
    assert len(records) == 50
    for rec in records:
        _check_record(rec, now, timedelta(seconds=10))
    assert len({r["external_id"] for r in records}) == 50
    # Same accounts as the history: ids exist, home currency matches, and devices are the
    # account's habitual ones (a rarely used second device may be absent from a short history,
    # so compare with the profile rather than with the devices the history happened to use).
    legit = df[df["is_fraud"] == 0]
    currency = legit.groupby("account_id")["currency"].first()
    for rec in records:
        assert rec["currency"] == currency[rec["account_id"]]
        if "device_id" in rec:
            index = int(rec["account_id"].removeprefix("acct-"))
            assert rec["device_id"] in set(feed._world.prof.devices[index])


def test_live_external_ids_never_collide_across_restarts():
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    a = LiveFeed(n_accounts=20, seed=1).normal(now=now, count=30)
    b = LiveFeed(n_accounts=20, seed=1).normal(now=now, count=30)
    assert not {r["external_id"] for r in a} & {r["external_id"] for r in b}


@pytest.mark.parametrize("pattern", FRAUD_PATTERNS)
def test_live_fraud_burst_every_pattern(feed: LiveFeed, pattern: str):
    now = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    records = feed.fraud_burst(now=now, pattern=pattern)
    assert records
    times = [_check_record(r, now, timedelta(minutes=10)) for r in records]
    assert times == sorted(times)
    amounts = [float(r["amount"]) for r in records]
    if pattern == "card_testing":
        assert 5 <= len(records) <= 16
        assert sum(a <= 3.0 for a in amounts) >= 5
    elif pattern == "collusion_ring":
        assert len({r["account_id"] for r in records}) >= 3
        assert len({r["counterparty_id"] for r in records}) == 1
    elif pattern == "velocity_burst":
        assert len(records) >= 8
    elif pattern == "new_geography":
        assert all("latitude" in r and "device_id" not in r for r in records)
    else:
        assert len({r["account_id"] for r in records}) == 1


def test_live_fraud_burst_random_pattern_and_validation(feed: LiveFeed):
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert feed.fraud_burst(now=now)
    with pytest.raises(ValueError):
        feed.fraud_burst(now=now, pattern="nope")
    with pytest.raises(ValueError):
        feed.normal(now=datetime(2026, 3, 2), count=1)


def test_live_feed_spaces_each_accounts_transactions():
    feed = LiveFeed(n_accounts=50, seed=3, min_gap_seconds=600)
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    first = feed.normal(now=now, count=40)
    again = feed.normal(now=now + timedelta(seconds=300), count=40)
    later = feed.normal(now=now + timedelta(seconds=601), count=40)
    assert len({r["account_id"] for r in first}) == len(first)
    assert not {r["account_id"] for r in first} & {r["account_id"] for r in again}
    assert {r["account_id"] for r in first} & {r["account_id"] for r in later}


def test_live_feed_is_quiet_when_no_account_is_awake():
    feed = LiveFeed(n_accounts=100, seed=3)
    assert feed.normal(now=datetime(2026, 3, 2, 3, 0, tzinfo=UTC), count=5) == []
    assert len(feed.normal(now=datetime(2026, 3, 2, 14, 0, tzinfo=UTC), count=5)) == 5
