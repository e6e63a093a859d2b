"""Seeded synthetic card/payment transactions with labelled fraud patterns.

Used to train a first model and to drive the live demo feed. Pure numpy/pandas, no Django.

The generator builds a small "world" from the seed: a merchant pool (per-country physical
merchants, online merchants, money-transfer services) and one behavioural profile per account
(home city, spending level, daily rate, active hours, habitual merchants, devices, transfer
counterparties). Legitimate traffic is sampled from those profiles; fraud episodes deliberately
break one or more of the habits, so behavioural features (amount vs the account's own history,
velocity, time since previous, hour of day, new merchant/country/device, distance from home)
separate fraud from normal traffic. Identifiers of fraudulent rows use exactly the same formats
as legitimate ones, so a model can only learn behaviour, never id shapes.

All times are UTC; hour-of-day preferences are expressed directly in UTC hours.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .fields import LABEL_FIELDS, TABLE_COLUMNS

FRAUD_PATTERNS = (
    "card_testing",
    "account_takeover",
    "velocity_burst",
    "unusual_amount",
    "unusual_time",
    "new_geography",
    "collusion_ring",
)
# The generator's frame: the table columns of a transaction, labels last (scoring.engine.fields).
COLUMNS = list(TABLE_COLUMNS)
# Keys a live record may carry (the API payload): everything except the labels.
RECORD_KEYS = tuple(c for c in COLUMNS if c not in LABEL_FIELDS)
# Live records never carry these when they are empty (the API prefers a missing key to null).
_OPTIONAL_KEYS = ("latitude", "longitude", "device_id", "ip_address", "counterparty_id")

# A fresh random `fraud_account_share` of accounts is hit once in every period of this many
# days, so the fraud row rate (~1-2 % at the default share) doesn't depend on `days`.
EPISODE_PERIOD_DAYS = 14
# Compressed span of a live fraud episode, so the demo shows it within seconds/minutes.
LIVE_EPISODE_SECONDS = 180

_DAY = 86_400
_HOUR = 3_600

# --- geography -----------------------------------------------------------------------------
# Home countries: code -> (currency, weight, cities). Weights are rough card-volume shares.
_HOME: dict[str, tuple[str, float, tuple[tuple[str, float, float], ...]]] = {
    "US": (
        "USD",
        0.40,
        (
            ("New York", 40.71, -74.01),
            ("Los Angeles", 34.05, -118.24),
            ("Chicago", 41.88, -87.63),
            ("Houston", 29.76, -95.37),
            ("Seattle", 47.61, -122.33),
        ),
    ),
    "GB": (
        "GBP",
        0.15,
        (
            ("London", 51.51, -0.13),
            ("Manchester", 53.48, -2.24),
            ("Birmingham", 52.49, -1.89),
            ("Glasgow", 55.86, -4.25),
        ),
    ),
    "DE": (
        "EUR",
        0.12,
        (
            ("Berlin", 52.52, 13.40),
            ("Munich", 48.14, 11.58),
            ("Hamburg", 53.55, 9.99),
            ("Frankfurt", 50.11, 8.68),
        ),
    ),
    "FR": (
        "EUR",
        0.10,
        (("Paris", 48.86, 2.35), ("Lyon", 45.76, 4.84), ("Marseille", 43.30, 5.37)),
    ),
    "ES": (
        "EUR",
        0.08,
        (("Madrid", 40.42, -3.70), ("Barcelona", 41.39, 2.17), ("Valencia", 39.47, -0.38)),
    ),
    "IT": ("EUR", 0.07, (("Rome", 41.90, 12.50), ("Milan", 45.46, 9.19), ("Naples", 40.85, 14.27))),
    "NL": ("EUR", 0.05, (("Amsterdam", 52.37, 4.90), ("Rotterdam", 51.92, 4.48))),
    "IE": ("EUR", 0.03, (("Dublin", 53.35, -6.26), ("Cork", 51.90, -8.47))),
}
# Far-away countries used by new_geography / account_takeover (never anyone's home).
_FAR: dict[str, tuple[tuple[str, float, float], ...]] = {
    "NG": (("Lagos", 6.52, 3.38),),
    "BR": (("Sao Paulo", -23.55, -46.63),),
    "TH": (("Bangkok", 13.76, 100.50),),
    "ID": (("Jakarta", -6.21, 106.85),),
    "PH": (("Manila", 14.60, 120.98),),
    "RU": (("Moscow", 55.76, 37.62),),
    "VN": (("Ho Chi Minh City", 10.82, 106.63),),
    "ZA": (("Johannesburg", -26.20, 28.05),),
    "MX": (("Mexico City", 19.43, -99.13),),
    "IN": (("Mumbai", 19.08, 72.88),),
}
_COUNTRIES = np.array(list(_HOME) + list(_FAR), dtype=object)
_N_HOME = len(_HOME)
_HOME_WEIGHTS = np.array([v[1] for v in _HOME.values()])
_HOME_WEIGHTS = _HOME_WEIGHTS / _HOME_WEIGHTS.sum()
_CURRENCY = np.array([v[0] for v in _HOME.values()], dtype=object)

_city_rows = [(ci, lat, lon) for ci, (_, _, cs) in enumerate(_HOME.values()) for _, lat, lon in cs]
_city_rows += [
    (_N_HOME + fi, lat, lon) for fi, cs in enumerate(_FAR.values()) for _, lat, lon in cs
]
_CITY_COUNTRY = np.array([r[0] for r in _city_rows])
_CITY_LAT = np.array([r[1] for r in _city_rows])
_CITY_LON = np.array([r[2] for r in _city_rows])
_COUNTRY_CITIES = [np.flatnonzero(c == _CITY_COUNTRY) for c in range(len(_COUNTRIES))]

# First IPv4 octets plausible for residential/mobile ranges per region (not exact allocations,
# just enough that addresses look real and are never private/reserved).
_IP_OCTETS = {
    "US": (24, 50, 66, 67, 68, 70, 71, 73, 75, 76, 96, 98, 99, 104, 107, 108, 172),
    "GB": (2, 5, 31, 51, 62, 77, 78, 79, 81, 82, 86, 90, 92, 94),
    "EU": (37, 46, 77, 78, 79, 80, 81, 82, 83, 84, 85, 87, 88, 89, 91, 93, 95, 109, 176, 178),
    "FAR": (41, 45, 102, 103, 110, 112, 115, 117, 154, 177, 181, 186, 189, 196, 200, 201, 203),
}

# --- merchants -----------------------------------------------------------------------------
CATEGORIES = (
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
)
_CAT = {c: i for i, c in enumerate(CATEGORIES)}
_CATEGORY_NAMES = np.array(CATEGORIES, dtype=object)
# Median ticket per category before the account's own spending level is applied.
_BASE_AMOUNT = np.array([38.0, 45.0, 28.0, 55.0, 220.0, 180.0, 80.0, 85.0, 30.0, 22.0, 150.0])
CHANNELS = ("pos", "ecom", "atm")
_POS, _ECOM, _ATM = 0, 1, 2
_CHANNEL_NAMES = np.array(CHANNELS, dtype=object)

_LOCAL_MIX = {
    "grocery": 0.25,
    "restaurant": 0.22,
    "gas": 0.12,
    "atm": 0.10,
    "pharmacy": 0.09,
    "entertainment": 0.09,
    "electronics": 0.07,
    "travel": 0.06,
}
_ONLINE_MIX = {
    "online_retail": 0.50,
    "utilities": 0.15,
    "entertainment": 0.15,
    "travel": 0.12,
    "electronics": 0.08,
}
_MERCHANTS_PER_HOME_COUNTRY = 300
_MERCHANTS_PER_FAR_COUNTRY = 80
_ONLINE_MERCHANTS = 800
_TRANSFER_SERVICES = 8

# --- legitimate behaviour knobs ------------------------------------------------------------
_NEW_MERCHANT_P = 0.03  # share of legit transactions at a merchant outside the habitual set
_SECOND_DEVICE_P = 0.25  # how often a two-device account uses its second device
_TRIP_ACCOUNT_P = 0.04  # accounts that travel abroad (legitimately) during the history window
_AMOUNT_SIGMA = 0.55  # per-transaction lognormal spread around the account/category median
_MAX_HABITUAL = 11  # habitual merchants per account are at most 8 local + 3 online


def _haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat = p2 - p1
    dlon = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def _epoch(dt: datetime, name: str) -> int:
    """Whole UTC epoch seconds of an aware datetime (naive ones are ambiguous, so refused)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return int(np.floor(dt.timestamp()))


def _ips(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One plausible public IPv4 string per entry of `region` (keys of _IP_OCTETS)."""
    n = len(region)
    first = np.empty(n, dtype=np.int64)
    for key, octets in _IP_OCTETS.items():
        mask = region == key
        if mask.any():
            first[mask] = rng.choice(octets, mask.sum())
    rest = rng.integers(0, 256, (n, 2))
    last = rng.integers(1, 255, n)
    return np.array(
        [f"{a}.{b}.{c}.{d}" for a, (b, c), d in zip(first, rest, last, strict=True)], dtype=object
    )


def _ip_region(country: np.ndarray) -> np.ndarray:
    """Map country indices to the IP octet region used for them."""
    codes = _COUNTRIES[country]
    region = np.where(np.isin(codes, ("US", "GB")), codes, "EU").astype(object)
    region[country >= _N_HOME] = "FAR"
    return region


def _device_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.array([f"dev-{x:012x}" for x in rng.integers(0, 2**48, n)], dtype=object)


def _counterparty_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.array([f"cp-{x:08d}" for x in rng.integers(0, 10**8, n)], dtype=object)


@dataclass(frozen=True)
class _Pool:
    """Merchant pool: merchant index -> country (-1 = online), category, channel."""

    ids: np.ndarray
    country: np.ndarray
    category: np.ndarray
    channel: np.ndarray
    country_start: np.ndarray
    country_count: np.ndarray
    online: np.ndarray
    transfer: np.ndarray

    @classmethod
    def build(cls, rng: np.random.Generator) -> _Pool:
        countries, categories = [], []
        starts, counts = [], []
        local_cats = np.array([_CAT[c] for c in _LOCAL_MIX])
        local_p = np.array(list(_LOCAL_MIX.values()))
        for ci in range(len(_COUNTRIES)):
            n = _MERCHANTS_PER_HOME_COUNTRY if ci < _N_HOME else _MERCHANTS_PER_FAR_COUNTRY
            starts.append(sum(counts))
            counts.append(n)
            countries.append(np.full(n, ci))
            categories.append(rng.choice(local_cats, n, p=local_p / local_p.sum()))
        online_cats = np.array([_CAT[c] for c in _ONLINE_MIX])
        online_p = np.array(list(_ONLINE_MIX.values()))
        countries.append(np.full(_ONLINE_MERCHANTS + _TRANSFER_SERVICES, -1))
        categories.append(rng.choice(online_cats, _ONLINE_MERCHANTS, p=online_p / online_p.sum()))
        categories.append(np.full(_TRANSFER_SERVICES, _CAT["transfer"]))
        country = np.concatenate(countries)
        category = np.concatenate(categories)
        n_local = sum(counts)
        channel = np.where(country < 0, _ECOM, np.where(category == _CAT["atm"], _ATM, _POS))
        return cls(
            ids=np.array([f"m-{i:05d}" for i in range(len(country))], dtype=object),
            country=country,
            category=category,
            channel=channel,
            country_start=np.array(starts),
            country_count=np.array(counts),
            online=np.arange(n_local, n_local + _ONLINE_MERCHANTS),
            transfer=np.arange(n_local + _ONLINE_MERCHANTS, len(country)),
        )


@dataclass(frozen=True)
class _Profiles:
    """Per-account behaviour, struct-of-arrays (row i = account i)."""

    ids: np.ndarray
    home: np.ndarray  # country index
    lat: np.ndarray
    lon: np.ndarray
    level: np.ndarray  # lognormal spending multiplier
    rate: np.ndarray  # expected legit transactions per day
    hour_w: np.ndarray  # (n, 24) probability of each UTC hour
    hour_cum: np.ndarray  # (n, 24) cumulative of hour_w
    merch: np.ndarray  # (n, _MAX_HABITUAL) habitual merchant indices (padded)
    merch_cum: np.ndarray  # (n, _MAX_HABITUAL) cumulative choice probabilities (pad = 2)
    n_merch: np.ndarray
    devices: np.ndarray  # (n, 2) device ids; one-device accounts repeat the first
    ips: np.ndarray  # (n, 2) ip per device
    n_devices: np.ndarray
    wallet_share: np.ndarray  # share of in-store payments made with the phone (has device)
    transfer_rate: np.ndarray  # share of transactions that are transfers to a counterparty
    counterparties: np.ndarray  # (n, 2) habitual transfer counterparties
    typical: np.ndarray  # typical ticket, the yardstick for "N x usual" fraud amounts


def _build_profiles(n: int, pool: _Pool, rng: np.random.Generator) -> _Profiles:
    home = rng.choice(_N_HOME, n, p=_HOME_WEIGHTS)
    city = np.array([rng.choice(_COUNTRY_CITIES[c]) for c in home])
    # Jitter gives each account its own neighbourhood instead of the exact city centre.
    lat = _CITY_LAT[city] + rng.normal(0, 0.03, n)
    lon = _CITY_LON[city] + rng.normal(0, 0.03, n)
    level = rng.lognormal(0.0, 0.45, n)
    # Most accounts are light users; a long tail is busy (0.5-6 per day, mean ~0.9).
    rate = np.clip(0.5 + rng.lognormal(np.log(0.25), 0.9, n), 0.5, 6.0)

    # Waking hours: active window [start, end] inside 06-23 UTC with a personal peak, so
    # 00-05 is never legitimately used and hour-of-day is informative per account.
    start = rng.integers(6, 10, n)
    end = rng.integers(20, 24, n)
    peak = rng.uniform(start + 2, end - 2)
    sigma = rng.uniform(2.5, 5.0, n)
    hours = np.arange(24)
    w = np.exp(-0.5 * ((hours[None, :] - peak[:, None]) / sigma[:, None]) ** 2)
    w[(hours[None, :] < start[:, None]) | (hours[None, :] > end[:, None])] = 0.0
    hour_w = w / w.sum(axis=1, keepdims=True)

    merch = np.zeros((n, _MAX_HABITUAL), dtype=np.int64)
    merch_cum = np.full((n, _MAX_HABITUAL), 2.0)
    n_merch = np.zeros(n, dtype=np.int64)
    typical = np.zeros(n)
    n_local = rng.integers(3, 9, n)
    n_online = rng.integers(1, 4, n)
    online_share = rng.uniform(0.1, 0.4, n)
    zipf_a = rng.uniform(1.0, 1.8, n)
    for i in range(n):
        s, c = pool.country_start[home[i]], pool.country_count[home[i]]
        local = s + rng.choice(c, n_local[i], replace=False)
        online = rng.choice(pool.online, n_online[i], replace=False)
        # Zipf-like weights: a couple of favourite shops dominate, the rest are occasional.
        wl = 1.0 / np.arange(1, n_local[i] + 1) ** zipf_a[i]
        wo = 1.0 / np.arange(1, n_online[i] + 1) ** zipf_a[i]
        p = np.concatenate([wl / wl.sum() * (1 - online_share[i]), wo / wo.sum() * online_share[i]])
        k = len(p)
        merch[i, :k] = np.concatenate([local, online])
        merch_cum[i, :k] = np.cumsum(p)
        n_merch[i] = k
        typical[i] = level[i] * float(p @ _BASE_AMOUNT[pool.category[merch[i, :k]]])

    n_devices = 1 + (rng.random(n) < 0.45)
    devices = _device_ids(2 * n, rng).reshape(n, 2)
    ips = _ips(np.repeat(_ip_region(home), 2), rng).reshape(n, 2)
    single = n_devices == 1
    devices[single, 1] = devices[single, 0]
    ips[single, 1] = ips[single, 0]

    counterparties = _counterparty_ids(2 * n, rng).reshape(n, 2)
    one_cp = rng.random(n) < 0.5
    counterparties[one_cp, 1] = counterparties[one_cp, 0]
    transfer_rate = np.where(rng.random(n) < 0.4, rng.uniform(0.01, 0.05, n), 0.0)

    return _Profiles(
        ids=np.array([f"acct-{i:06d}" for i in range(n)], dtype=object),
        home=home,
        lat=lat,
        lon=lon,
        level=level,
        rate=rate,
        hour_w=hour_w,
        hour_cum=np.cumsum(hour_w, axis=1),
        merch=merch,
        merch_cum=merch_cum,
        n_merch=n_merch,
        devices=devices,
        ips=ips,
        n_devices=n_devices,
        wallet_share=rng.uniform(0.1, 0.9, n),
        transfer_rate=transfer_rate,
        counterparties=counterparties,
        typical=typical,
    )


Rows = dict[str, np.ndarray]
_ROW_KEYS = ("acc", "t", "merchant", "amount", "country", "lat", "lon", "device", "ip", "cp")


def _concat(parts: list[Rows]) -> Rows:
    return {k: np.concatenate([p[k] for p in parts]) for k in (*_ROW_KEYS, "fraud", "pattern")}


class _World:
    """Merchant pool + account profiles derived from (seed, n_accounts) only.

    Nothing here depends on `days`/`end`, which is what lets LiveFeed rebuild exactly the
    accounts generate_history produced.
    """

    def __init__(self, seed: int, n_accounts: int):
        if n_accounts < 1:
            raise ValueError("n_accounts must be >= 1")
        self.seed = seed
        self.n = n_accounts
        # Separate streams so the pool never shifts when the number of accounts changes.
        self.pool = _Pool.build(np.random.default_rng([seed, 1]))
        self.prof = _build_profiles(n_accounts, self.pool, np.random.default_rng([seed, 0]))

    # --- building blocks -------------------------------------------------------------------
    def sample_hours(self, acc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw a UTC hour per row from each account's own hour-of-day distribution."""
        u = rng.random(len(acc))
        return np.minimum((self.prof.hour_cum[acc] < u[:, None]).sum(axis=1), 23)

    def snap_active(self, acc: int, t0: int, rng: np.random.Generator) -> int:
        """Move t0 to a habitual hour of the same UTC day (so only the intended signal fires)."""
        hour = int(self.sample_hours(np.array([acc]), rng)[0])
        return t0 - t0 % _DAY + hour * _HOUR + int(rng.integers(0, _HOUR))

    def random_local(self, country: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random physical merchant in each given country (almost always new to the account)."""
        return self.pool.country_start[country] + rng.integers(0, self.pool.country_count[country])

    def new_merchants(
        self,
        acc: int,
        n: int,
        rng: np.random.Generator,
        *,
        candidates: np.ndarray,
    ) -> np.ndarray:
        """`n` merchants from `candidates` that are not among the account's habitual ones."""
        habitual = self.prof.merch[acc, : self.prof.n_merch[acc]]
        fresh = np.setdiff1d(candidates, habitual)
        return rng.choice(fresh, n)

    def category_merchants(self, cats: tuple[str, ...], *, online: bool) -> np.ndarray:
        pool = self.pool
        base = pool.online if online else np.flatnonzero(pool.country >= 0)
        return base[np.isin(pool.category[base], [_CAT[c] for c in cats])]

    def amounts(
        self,
        acc: np.ndarray,
        merchant: np.ndarray,
        rng: np.random.Generator,
        scale: np.ndarray | float = 1.0,
    ) -> np.ndarray:
        """Category median x account level x lognormal noise; ATM cash in multiples of 20."""
        cat = self.pool.category[merchant]
        amt = _BASE_AMOUNT[cat] * self.prof.level[acc] * rng.lognormal(0, _AMOUNT_SIGMA, len(acc))
        amt = np.maximum(amt * scale, 1.0)
        atm = cat == _CAT["atm"]
        amt[atm] = np.maximum(np.round(amt[atm] / 20) * 20, 20)
        return np.round(amt, 2)

    def habitual_devices(
        self, acc: np.ndarray, channel: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Device/IP for legit-looking rows: always for ecom, for wallet payments in store,
        never at ATMs (cash withdrawals use the physical card only)."""
        n = len(acc)
        which = (rng.random(n) < _SECOND_DEVICE_P).astype(np.int64)
        device = self.prof.devices[acc, which].copy()
        ip = self.prof.ips[acc, which].copy()
        has = (channel == _ECOM) | (
            (channel == _POS) & (rng.random(n) < self.prof.wallet_share[acc])
        )
        device[~has] = None
        ip[~has] = None
        return device, ip

    def rows(
        self,
        acc: np.ndarray,
        t: np.ndarray,
        merchant: np.ndarray,
        amount: np.ndarray,
        rng: np.random.Generator,
        *,
        country: np.ndarray | None = None,
        centre: tuple[np.ndarray, np.ndarray] | None = None,
        device: np.ndarray | None = None,
        ip: np.ndarray | None = None,
        cp: np.ndarray | None = None,
        pattern: str = "",
    ) -> Rows:
        """Assemble internal rows; coordinates only for card-present (pos/atm) payments."""
        n = len(acc)
        channel = self.pool.channel[merchant]
        if device is None:
            device, ip = self.habitual_devices(acc, channel, rng)
        lat0, lon0 = centre if centre is not None else (self.prof.lat[acc], self.prof.lon[acc])
        present = channel != _ECOM
        # ~3 km jitter: shops around the account's neighbourhood, not one point.
        lat = np.where(present, lat0 + rng.normal(0, 0.03, n), np.nan)
        lon = np.where(present, lon0 + rng.normal(0, 0.03, n), np.nan)

        def full(value: object, dtype: type = object) -> np.ndarray:
            arr = np.empty(n, dtype=dtype)
            arr[:] = value
            return arr

        return {
            "acc": np.asarray(acc, dtype=np.int64),
            "t": np.asarray(t, dtype=np.int64),
            "merchant": np.asarray(merchant, dtype=np.int64),
            "amount": np.round(np.asarray(amount, dtype=float), 2),
            "country": self.prof.home[acc] if country is None else full(country, np.int64),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "device": full(device),
            "ip": full(ip),
            "cp": full(cp),
            "fraud": full(1 if pattern else 0, np.int64),
            "pattern": full(pattern),
        }

    # --- legitimate traffic ----------------------------------------------------------------
    def legit(
        self,
        acc: np.ndarray,
        t: np.ndarray,
        rng: np.random.Generator,
        *,
        away_city: np.ndarray | None = None,
        new_merchant_p: float = _NEW_MERCHANT_P,
        transfers: bool = True,
        amount_scale: np.ndarray | float = 1.0,
        pattern: str = "",
    ) -> Rows:
        """Transactions following each account's habits (vectorised over rows)."""
        p, n = self.prof, len(acc)
        u = rng.random(n)
        k = np.minimum((p.merch_cum[acc] < u[:, None]).sum(axis=1), p.n_merch[acc] - 1)
        merchant = p.merch[acc, k]

        new = rng.random(n) < new_merchant_p
        if new.any():
            # First visits: mostly a shop near home, sometimes a web shop.
            online = rng.random(new.sum()) < 0.3
            local = self.random_local(p.home[acc[new]], rng)
            web = rng.choice(self.pool.online, new.sum())
            merchant[new] = np.where(online, web, local)

        cp = np.full(n, None, dtype=object)
        if transfers:
            tr = rng.random(n) < p.transfer_rate[acc]
            if tr.any():
                merchant[tr] = rng.choice(self.pool.transfer, tr.sum())
                cp[tr] = p.counterparties[acc[tr], rng.integers(0, 2, tr.sum())]

        country = p.home[acc].copy()
        lat0, lon0 = p.lat[acc].copy(), p.lon[acc].copy()
        if away_city is not None:
            # Legit travel: card-present spending happens at the destination's shops.
            moved = (away_city >= 0) & (self.pool.country[merchant] >= 0)
            if moved.any():
                city = away_city[moved]
                merchant[moved] = self.random_local(_CITY_COUNTRY[city], rng)
                country[moved] = _CITY_COUNTRY[city]
                lat0[moved], lon0[moved] = _CITY_LAT[city], _CITY_LON[city]

        amount = self.amounts(acc, merchant, rng, amount_scale)
        return self.rows(
            acc,
            t,
            merchant,
            amount,
            rng,
            country=country,
            centre=(lat0, lon0),
            cp=cp,
            pattern=pattern,
        )

    # --- fraud episodes --------------------------------------------------------------------
    def fraud_device(self, rng: np.random.Generator) -> tuple[str, str]:
        """A device + IP the account has never used (fraudster's own kit, abroad-ish IP)."""
        return str(_device_ids(1, rng)[0]), str(_ips(np.array(["FAR"]), rng)[0])

    def episode(self, pattern: str, accs: np.ndarray, t0: int, rng: np.random.Generator) -> Rows:
        """One labelled fraud episode starting around t0 (`accs` has >1 entry only for rings)."""
        if pattern == "collusion_ring":
            return self._collusion_ring(accs, t0, rng)
        return getattr(self, f"_{pattern}")(int(accs[0]), t0, rng)

    def _card_testing(self, acc: int, t0: int, rng: np.random.Generator) -> Rows:
        # Bot checks a stolen card with tiny CNP charges at web shops it never used, seconds apart.
        n = int(rng.integers(5, 16))
        t = t0 + np.cumsum(rng.integers(5, 90, n))
        merchant = self.new_merchants(acc, n, rng, candidates=self.pool.online)
        amount = rng.uniform(0.5, 3.0, n)
        if rng.random() < 0.5:
            # Card validated: cash out with one big purchase a few minutes later.
            big = self.new_merchants(
                acc, 1, rng, candidates=self.category_merchants(("electronics",), online=True)
            )
            t = np.append(t, t[-1] + rng.integers(60, 600))
            merchant = np.append(merchant, big)
            amount = np.append(amount, self.prof.typical[acc] * rng.uniform(5, 15))
        dev, ip = self.fraud_device(rng)
        return self.rows(
            np.full(len(t), acc),
            t,
            merchant,
            amount,
            rng,
            device=dev,
            ip=ip,
            pattern="card_testing",
        )

    def _account_takeover(self, acc: int, t0: int, rng: np.random.Generator) -> Rows:
        # Credentials stolen: fraudster logs in from their own device abroad and spends big
        # (some of it wired to a mule) within a few hours.
        n = int(rng.integers(2, 6))
        t = t0 + np.sort(rng.integers(0, int(rng.integers(1, 5)) * _HOUR, n))
        cands = self.category_merchants(("electronics", "online_retail", "travel"), online=True)
        merchant = self.new_merchants(acc, n, rng, candidates=cands)
        cp = np.full(n, None, dtype=object)
        wire = rng.random(n) < 0.3
        if wire.any():
            merchant[wire] = rng.choice(self.pool.transfer, wire.sum())
            cp[wire] = _counterparty_ids(1, rng)[0]
        amount = self.prof.typical[acc] * rng.uniform(5, 20, n)
        country = int(rng.integers(_N_HOME, len(_COUNTRIES)))
        dev, ip = self.fraud_device(rng)
        return self.rows(
            np.full(n, acc),
            t,
            merchant,
            amount,
            rng,
            country=country,
            device=dev,
            ip=ip,
            cp=cp,
            pattern="account_takeover",
        )

    def _velocity_burst(self, acc: int, t0: int, rng: np.random.Generator) -> Rows:
        # Many ordinary-looking purchases in under an hour, mostly at unfamiliar merchants.
        n = int(rng.integers(8, 21))
        span = int(rng.uniform(30, 60) * 60)
        t = self.snap_active(acc, t0, rng) + np.sort(rng.integers(0, span, n))
        return self.legit(
            np.full(n, acc), t, rng, new_merchant_p=0.7, transfers=False, pattern="velocity_burst"
        )

    def _unusual_amount(self, acc: int, t0: int, rng: np.random.Generator) -> Rows:
        # One purchase 10-50x the account's usual ticket, at a new electronics/travel merchant.
        online = bool(rng.random() < 0.5)
        if online:
            cands = self.category_merchants(("electronics", "travel"), online=True)
        else:
            local = self.category_merchants(("electronics", "travel"), online=False)
            cands = local[self.pool.country[local] == self.prof.home[acc]]
        merchant = self.new_merchants(acc, 1, rng, candidates=cands)
        amount = np.array([self.prof.typical[acc] * rng.uniform(10, 50)])
        t = np.array([self.snap_active(acc, t0, rng)])
        return self.rows(np.array([acc]), t, merchant, amount, rng, pattern="unusual_amount")

    def _unusual_time(self, acc: int, t0: int, rng: np.random.Generator) -> Rows:
        # 2-4 purchases between 02:00 and 05:00 UTC, hours every account sleeps through.
        n = int(rng.integers(2, 5))
        t = t0 - t0 % _DAY + 2 * _HOUR + np.sort(rng.integers(0, 3 * _HOUR, n))
        return self.legit(
            np.full(n, acc),
            t,
            rng,
            new_merchant_p=0.3,
            transfers=False,
            amount_scale=rng.uniform(1.5, 3.5, n),
            pattern="unusual_time",
        )

    def _new_geography(self, acc: int, t0: int, rng: np.random.Generator) -> Rows:
        # Skimmed/cloned card used in shops of a country thousands of km from home.
        far = np.arange(_N_HOME, len(_COUNTRIES))
        far_city = np.array([_COUNTRY_CITIES[c][0] for c in far])
        dist = _haversine_km(
            self.prof.lat[acc], self.prof.lon[acc], _CITY_LAT[far_city], _CITY_LON[far_city]
        )
        city = int(rng.choice(far_city[dist > 3000]))
        country = int(_CITY_COUNTRY[city])
        n = int(rng.integers(2, 5))
        t = self.snap_active(acc, t0, rng) + np.sort(
            rng.integers(0, int(rng.uniform(1, 6) * _HOUR), n)
        )
        s, c = self.pool.country_start[country], self.pool.country_count[country]
        shops = np.arange(s, s + c)
        shops = shops[self.pool.channel[shops] == _POS]
        merchant = rng.choice(shops, n)
        amount = self.amounts(np.full(n, acc), merchant, rng, rng.uniform(1.2, 3.0, n))
        # A cloned card has no phone attached: card-present, no device/IP.
        none = np.full(n, None, dtype=object)
        return self.rows(
            np.full(n, acc),
            t,
            merchant,
            amount,
            rng,
            country=country,
            centre=(np.full(n, _CITY_LAT[city]), np.full(n, _CITY_LON[city])),
            device=none,
            ip=none,
            pattern="new_geography",
        )

    def _collusion_ring(self, accs: np.ndarray, t0: int, rng: np.random.Generator) -> Rows:
        # 3-6 complicit accounts push above-usual transfers to one shared mule within a day.
        cp = _counterparty_ids(1, rng)[0]
        per = rng.integers(1, 4, len(accs))
        acc = np.repeat(accs, per)
        n = len(acc)
        t = t0 + np.sort(rng.integers(0, 20 * _HOUR, n))
        merchant = rng.choice(self.pool.transfer, n)
        amount = np.maximum(np.round(self.prof.typical[acc] * rng.uniform(2, 6, n)), 1.0)
        return self.rows(acc, t, merchant, amount, rng, cp=np.full(n, cp), pattern="collusion_ring")

    # --- output ----------------------------------------------------------------------------
    def frame(self, r: Rows) -> pd.DataFrame:
        """Internal rows -> public DataFrame, sorted by time, with deterministic external ids."""
        order = np.lexsort((r["acc"], r["t"]))
        r = {k: v[order] for k, v in r.items()}
        n = len(order)
        p, pool = self.prof, self.pool
        return pd.DataFrame(
            {
                "external_id": np.array(
                    [f"syn-{self.seed}-{i:07d}" for i in range(n)], dtype=object
                ),
                "account_id": p.ids[r["acc"]],
                "amount": r["amount"].astype(float),
                "currency": _CURRENCY[p.home[r["acc"]]],
                "occurred_at": pd.to_datetime(r["t"], unit="s", utc=True),
                "merchant_id": pool.ids[r["merchant"]],
                "merchant_category": _CATEGORY_NAMES[pool.category[r["merchant"]]],
                "channel": _CHANNEL_NAMES[pool.channel[r["merchant"]]],
                "country": _COUNTRIES[r["country"]],
                "latitude": r["lat"].astype(float),
                "longitude": r["lon"].astype(float),
                "device_id": r["device"],
                "ip_address": r["ip"],
                "counterparty_id": r["cp"],
                "is_fraud": r["fraud"].astype(np.int64),
                "fraud_pattern": r["pattern"].astype(object),
            },
            columns=COLUMNS,
        )

    def records(self, r: Rows) -> list[dict]:
        """Internal rows -> JSON-ready API payloads (no labels, empty optionals omitted)."""
        df = self.frame(r)
        out = []
        for row in df.itertuples(index=False):
            rec = {
                "external_id": f"syn-live-{uuid.uuid4().hex}",
                "account_id": row.account_id,
                "amount": f"{row.amount:.2f}",
                "currency": row.currency,
                "occurred_at": row.occurred_at.to_pydatetime().isoformat(),
                "merchant_id": row.merchant_id,
                "merchant_category": row.merchant_category,
                "channel": row.channel,
                "country": row.country,
            }
            for key in _OPTIONAL_KEYS:
                value = getattr(row, key)
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    continue
                rec[key] = float(value) if isinstance(value, float) else str(value)
            out.append(rec)
        return out


def _allocate(victims: np.ndarray, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Split one period's victims into episodes, cycling patterns so every one appears.

    Collusion rings need 3+ accounts, so they are only formed when there are enough victims
    for every single-account pattern as well.
    """
    n = len(victims)
    n_ring = max(3, round(n / len(FRAUD_PATTERNS))) if n >= len(FRAUD_PATTERNS) + 2 else 0
    singles = [p for p in FRAUD_PATTERNS if p != "collusion_ring"]
    order = rng.permutation(len(singles))
    episodes = [(singles[order[i % len(singles)]], victims[i : i + 1]) for i in range(n - n_ring)]
    ring_members = victims[n - n_ring :]
    while len(ring_members):
        r = len(ring_members)
        size = r if r <= 6 else int(rng.integers(3, min(6, r - 3) + 1))
        episodes.append(("collusion_ring", ring_members[:size]))
        ring_members = ring_members[size:]
    return episodes


def generate_history(
    *,
    n_accounts: int,
    days: int,
    end: datetime,
    seed: int = 7,
    fraud_account_share: float = 0.03,
) -> pd.DataFrame:
    """Labelled history for `n_accounts` accounts over `days` days ending at `end`.

    `end` must be a timezone-aware datetime (it is converted to UTC).

    Returns a DataFrame with exactly COLUMNS, sorted by `occurred_at` (tz-aware UTC, whole
    seconds, all within [end - days, end)). The same arguments always give an identical frame.

    Fraud: in every ~EPISODE_PERIOD_DAYS-day period after a short warm-up, a fresh random
    `fraud_account_share` of the accounts each suffer one episode of one of FRAUD_PATTERNS
    (collusion rings pool 3-6 of that period's victims). With the default share this labels
    roughly 1-2 % of rows as fraud, independent of `days`.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if not 0.0 <= fraud_account_share <= 1.0:
        raise ValueError("fraud_account_share must be within [0, 1]")
    end_s = _epoch(end, "end")
    start_s = end_s - days * _DAY
    world = _World(seed, n_accounts)
    prof = world.prof
    rng = np.random.default_rng([seed, 2])
    n = n_accounts

    # Legit traffic: a Poisson count per account per UTC calendar day touched by the window,
    # each transaction at an hour drawn from the account's own hour profile.
    first_midnight = start_s - start_s % _DAY
    cal_days = -(-(end_s - first_midnight) // _DAY)
    counts = rng.poisson(prof.rate * cal_days)
    acc = np.repeat(np.arange(n), counts)
    t = (
        first_midnight
        + rng.integers(0, cal_days, len(acc)) * _DAY
        + world.sample_hours(acc, rng) * _HOUR
        + rng.integers(0, _HOUR, len(acc))
    )
    keep = (t >= start_s) & (t < end_s)
    acc, t = acc[keep], t[keep]

    # A few accounts travel abroad for 3-10 days: legit new-country/new-merchant noise so the
    # model cannot equate "abroad" with fraud.
    trip_city = np.full(n, -1)
    trip_start = np.zeros(n, dtype=np.int64)
    trip_end = np.zeros(n, dtype=np.int64)
    travellers = np.flatnonzero(rng.random(n) < _TRIP_ACCOUNT_P)
    for i in travellers:
        dest = int(rng.choice(np.delete(np.arange(_N_HOME), prof.home[i])))
        trip_city[i] = int(rng.choice(_COUNTRY_CITIES[dest]))
        trip_start[i] = int(rng.integers(start_s, max(start_s + 1, end_s - 3 * _DAY)))
        trip_end[i] = trip_start[i] + int(rng.integers(3, 11)) * _DAY
    away = (trip_city[acc] >= 0) & (t >= trip_start[acc]) & (t < trip_end[acc])
    parts = [world.legit(acc, t, rng, away_city=np.where(away, trip_city[acc], -1))]

    # Fraud: skip a warm-up so every victim has some legit history to deviate from.
    n_victims = round(fraud_account_share * n)
    if n_victims:
        warm = min(7 * _DAY, days * _DAY // 5)
        n_periods = max(1, round(days / EPISODE_PERIOD_DAYS))
        edges = np.linspace(start_s + warm, end_s, n_periods + 1).astype(np.int64)
        for lo, hi in itertools.pairwise(edges):
            victims = rng.choice(n, n_victims, replace=False)
            # Leave a day so episodes (rings span up to 20 h) usually finish inside the window.
            hi_start = max(int(lo) + 1, int(hi) - _DAY)
            for pattern, accs in _allocate(victims, rng):
                t0 = int(rng.integers(lo, hi_start))
                parts.append(world.episode(pattern, accs, t0, rng))

    rows = _concat(parts)
    inside = (rows["t"] >= start_s) & (rows["t"] < end_s)
    return world.frame({k: v[inside] for k, v in rows.items()})


class LiveFeed:
    """Endless stream of transactions for the same accounts as generate_history(seed, n_accounts).

    Account profiles (ids, home, habits, devices) are rebuilt from the seed; the stream itself
    is drawn from OS entropy so every feed/restart produces fresh traffic and external ids.
    Records are JSON-ready dicts with only RECORD_KEYS (no labels).
    """

    def __init__(self, *, n_accounts: int, seed: int = 7, min_gap_seconds: int = 900):
        self._world = _World(seed, n_accounts)
        self._rng = np.random.default_rng()
        # A demo feed sends far more per account than the accounts' history did (a few per
        # second across a few thousand accounts); spacing each account's transactions keeps
        # ordinary traffic from looking like a velocity burst.
        self._min_gap = min_gap_seconds
        self._last_seen = np.full(n_accounts, np.iinfo(np.int64).min // 2, dtype=np.int64)

    def normal(self, *, now: datetime, count: int) -> list[dict]:
        """Up to `count` legitimate transactions, 0-5 s before `now`.

        Accounts are drawn in proportion to their habits at this hour of the day (how active
        they are at this hour and how often they pay at all), and none twice within
        ``min_gap_seconds``. Fewer records come back when few accounts are awake: outside every
        account's waking hours (00-05 UTC) the feed is quiet, as real traffic would be.
        """
        now_s = _epoch(now, "now")
        if count <= 0:
            return []
        rng, prof = self._rng, self._world.prof
        weight = prof.hour_w[:, (now_s // _HOUR) % 24] * prof.rate
        weight = np.where(now_s - self._last_seen >= self._min_gap, weight, 0.0)
        eligible = np.flatnonzero(weight > 0)
        if len(eligible) == 0:
            return []
        size = min(count, len(eligible))
        acc = rng.choice(eligible, size, replace=False, p=weight[eligible] / weight[eligible].sum())
        self._last_seen[acc] = now_s
        t = now_s - rng.integers(0, 6, size)
        return self._world.records(self._world.legit(acc, t, rng))

    def fraud_burst(self, *, now: datetime, pattern: str | None = None) -> list[dict]:
        """One fraud episode (random pattern if None), compressed into the last few minutes.

        Real episodes span minutes to a day; for the demo the timeline is squeezed into at
        most LIVE_EPISODE_SECONDS ending at `now`, keeping order. Hour-of-day can't survive
        that, so unusual_time picks an account that is normally asleep at the current hour
        when one exists (always true between 00:00 and 05:59 UTC).
        """
        now_s = _epoch(now, "now")
        rng = self._rng
        world = self._world
        if pattern is None:
            pattern = str(rng.choice(FRAUD_PATTERNS))
        if pattern not in FRAUD_PATTERNS:
            raise ValueError(f"unknown fraud pattern {pattern!r}; expected one of {FRAUD_PATTERNS}")

        if pattern == "collusion_ring":
            size = min(int(rng.integers(3, 7)), world.n)
            accs = rng.choice(world.n, size, replace=False)
        elif pattern == "unusual_time":
            asleep = np.flatnonzero(world.prof.hour_w[:, (now_s // _HOUR) % 24] == 0)
            accs = np.array([rng.choice(asleep if len(asleep) else world.n)])
        else:
            accs = np.array([rng.integers(0, world.n)])

        rows = world.episode(pattern, accs, now_s - _DAY, rng)
        rel = rows["t"] - rows["t"].min()
        span = int(rel.max())
        target = min(span, LIVE_EPISODE_SECONDS)
        if span > 0:
            rel = rel * target // span
        rows["t"] = now_s - target + rel
        return world.records(rows)
