"""Seeded, streaming generator of realistic web-shop traffic logs.

Writes one file per day, JSON lines (``access-YYYY-MM-DD.jsonl``) or the combined format followed
by nginx's ``$request_time`` (``access-YYYY-MM-DD.log``), optionally gzipped. ``drift`` shifts the
traffic, on every day or by a per-day schedule. The same arguments and seed give byte-identical
files; memory depends on the number of concurrent sessions, not on the number of days.

Design notes: docs/design/synthetic_logs.md
"""

from __future__ import annotations

import abc
import datetime as dt
import gzip as gzip_lib
import itertools
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np

__all__ = [
    "DEFAULT_MALFORMED_RATE",
    "FORMATS",
    "MAX_DRIFT",
    "GeneratedFile",
    "generate_logs",
    "log_file_name",
]

FORMATS: tuple[str, ...] = ("jsonl", "combined")
DEFAULT_MALFORMED_RATE = 0.0005
MAX_DRIFT = 2.0
SITE = "https://shop.example.com"

_DAY_MS = 86_400_000
# Sessions are simulated slice by slice; slices shrink for big volumes to bound memory.
_SLICE_MS_CHOICES = (1_800_000, 900_000, 300_000, 60_000, 15_000, 5_000)
_EVENTS_PER_SLICE = 2_000
_EPOCH = dt.date(1970, 1, 1)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WRITE_LINES = 8192  # lines per write call
_P_BOT = 0.07  # share of sessions by bots
_P_LOGGED_IN = 0.645  # share of human sessions by logged-in users (~60% of all sessions)
_P_LATE_MOBILE = 0.016  # mobile events that reach the server a day late (~0.5% of all events)
_EVENTS_PER_SESSION = 14.0  # first guess, refined while generating
_MAX_POOL = 250_000
# UTC hour -> relative traffic: quiet at night, busiest in the afternoon and evening (and the
# American evening keeps midnight UTC busier than the early morning).
_HOURLY = (
    0.50, 0.40, 0.30, 0.20, 0.13, 0.11, 0.13, 0.20, 0.32, 0.45, 0.56, 0.65,
    0.74, 0.82, 0.90, 0.96, 1.00, 1.00, 0.98, 0.95, 0.90, 0.82, 0.72, 0.60,
)  # fmt: skip


def _cdf(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return np.cumsum(w) / w.sum()


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: category indices for uniforms ``u``."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def _slot(u: np.ndarray, n: int) -> np.ndarray:
    return (u * n).astype(np.intp)


# --- request kinds --------------------------------------------------------------------------

_N_PRODUCTS = 400
# Product ids ordered by popularity (a fixed shuffle, so popular ids are not simply 1, 2, 3).
_PRODUCT_IDS = np.random.default_rng(20261120).permutation(np.arange(1, _N_PRODUCTS + 1)).tolist()
_PRODUCT_CDF = _cdf(1.0 / np.arange(1, _N_PRODUCTS + 1) ** 1.1)
_QUERIES = (
    "shoes", "running shoes", "winter jacket", "rain coat", "backpack", "wool socks", "sneakers",
    "leather bag", "gift card", "sunglasses", "yoga mat", "t-shirt", "hoodie", "boots",
    "kids shoes", "water bottle", "sale", "jeans", "summer dress", "watch", "café mug",
)  # fmt: skip
_CATEGORIES = (
    "shoes", "jackets", "bags", "accessories", "kids", "sale", "new-in", "sport", "home", "beauty",
)  # fmt: skip


@dataclass(frozen=True)
class _Referrer:
    """Where a human session comes from."""

    url: str | None
    weight: float
    group: str  # direct, search, social, campaign, internal, referral
    drift: float = 0.0  # weight added per unit of drift strength
    landing: str | None = None  # landing page of campaign traffic


_REFERRERS = (
    _Referrer(None, 0.33, "direct"),
    _Referrer("https://www.google.com/", 0.21, "search"),
    _Referrer("https://www.bing.com/", 0.04, "search"),
    _Referrer("https://duckduckgo.com/", 0.03, "search"),
    _Referrer("https://www.facebook.com/", 0.05, "social"),
    _Referrer("https://www.instagram.com/", 0.04, "social"),
    _Referrer("https://t.co/", 0.02, "social"),
    _Referrer("https://www.reddit.com/r/deals/", 0.02, "social"),
    _Referrer(
        "https://mail.example.net/?utm_source=newsletter&utm_medium=email&utm_campaign=weekly_deals",
        0.05,
        "campaign",
        landing="/landing/weekly_deals?utm_source=newsletter&utm_medium=email",
    ),
    _Referrer(
        "https://ads.example.org/click?utm_source=partner&utm_medium=cpc&utm_campaign=winter_sale",
        0.04,
        "campaign",
        landing="/landing/winter_sale?utm_source=partner&utm_medium=cpc",
    ),
    _Referrer(
        "https://www.tiktok.com/?utm_source=tiktok&utm_medium=social&utm_campaign=spring_launch",
        0.01,
        "campaign",
        drift=0.12,
        landing="/landing/spring_launch?utm_source=tiktok&utm_medium=social",
    ),
    _Referrer(f"{SITE}/", 0.06, "internal"),
    _Referrer("https://blog.example.com/best-winter-boots", 0.04, "referral"),
)
_GROUP_LOGIT = {"direct": 0.0, "search": 0.25, "social": -0.45, "campaign": 0.35}
_GROUP_BOUNCE = {"social": 0.10, "campaign": -0.05}
_REF_LOGIT = np.array([_GROUP_LOGIT.get(r.group, 0.15) for r in _REFERRERS])
_REF_BOUNCE = np.array([_GROUP_BOUNCE.get(r.group, 0.0) for r in _REFERRERS])
_LANDINGS = tuple(r.landing for r in _REFERRERS if r.landing)
_REF_LANDING = np.array([_LANDINGS.index(r.landing) if r.landing else -1 for r in _REFERRERS])


@dataclass(frozen=True)
class _Kind:
    """One kind of request: how it is sent, how the server answers it, and its paths."""

    method: str
    paths: tuple[str, ...]
    gap: int  # 0: page view after think time, 1: sub-resource of the page, 2: redirect target
    latency_ms: float  # median server time
    size: float  # median response bytes
    p_5xx: float
    status: int = 200


_SEARCH_PATHS = (
    *(f"/search?q={quote_plus(q)}" for q in _QUERIES),
    *(f"/search?q={quote_plus(q)}&page=2" for q in _QUERIES[:8]),
)
_API_PATHS = (
    "/api/cart",
    "/api/session",
    "/api/v1/wishlist",
    *(f"/api/recommendations?product={i}" for i in _PRODUCT_IDS[:40]),
    *(f"/api/v1/products/{i}/stock" for i in _PRODUCT_IDS[:25]),
    *(f"/api/search/suggest?q={quote_plus(q[:3])}" for q in _QUERIES),
)
# Broken links and stale bookmarks; and what vulnerability scanners probe for.
_MISSING_PATHS = (
    "/product/99999", "/old-catalog/item-17", "/images/missing.png", "/blog/2019/summer-sale",
    "/favicon.ico", "/apple-touch-icon.png", "/category/outlet", "/landing/black_friday_2025",
)  # fmt: skip
_PROBE_PATHS = (
    "/wp-login.php", "/.env", "/xmlrpc.php", "/admin.php", "/.git/config", "/phpmyadmin/",
    "/index.php?option=com_users", "/cgi-bin/test.cgi", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
)  # fmt: skip
_PRIVATE_PATHS = ("/api/account", "/api/orders", "/admin", "/admin/login", "/account/settings")

# Columns: method, paths, gap class, median latency (ms), median size (bytes), P(5xx), status.
_KINDS = (
    _Kind("GET", ("/", "/", "/", "/home"), 0, 60, 38_000, 0.0025),
    _Kind("GET", _LANDINGS, 0, 70, 42_000, 0.0025),
    _Kind("GET", tuple(f"/product/{i}" for i in _PRODUCT_IDS), 0, 110, 52_000, 0.003),
    _Kind("GET", tuple(f"/category/{c}" for c in _CATEGORIES), 0, 130, 61_000, 0.003),
    _Kind("GET", _SEARCH_PATHS, 0, 170, 45_000, 0.005),
    _Kind("POST", ("/cart/add",), 0, 90, 180, 0.01, 302),
    _Kind("GET", ("/cart",), 2, 80, 24_000, 0.006),
    _Kind("GET", ("/checkout",), 0, 260, 31_000, 0.012),
    _Kind("POST", ("/checkout",), 0, 650, 220, 0.02, 302),
    _Kind("GET", ("/checkout/complete",), 2, 420, 18_000, 0.012),
    _Kind("GET", ("/static/app.js", "/static/vendor.js"), 1, 4, 184_000, 0.0005),
    _Kind("GET", ("/static/style.css",), 1, 3, 41_000, 0.0005),
    _Kind("GET", tuple(f"/images/{n}.png" for n in range(1, 301)), 1, 6, 86_000, 0.0005),
    _Kind("GET", _API_PATHS, 1, 28, 2_400, 0.01),
    _Kind("POST", ("/api/events",), 1, 12, 0, 0.005, 204),
    _Kind("GET", _MISSING_PATHS, 0, 18, 1_650, 0.0, 404),
    _Kind("GET", _PROBE_PATHS, 0, 9, 1_650, 0.0, 404),
    _Kind("GET", _PRIVATE_PATHS, 1, 15, 320, 0.0, 401),
    _Kind("HEAD", ("/", "/health", "/static/app.js"), 0, 5, 0, 0.0),
    _Kind("GET", ("/robots.txt", "/sitemap.xml"), 0, 3, 900, 0.0),
)
(
    _HOME, _LANDING, _PRODUCT, _CATEGORY, _SEARCH, _CART_ADD, _CART, _CHECKOUT, _CHECKOUT_POST,
    _COMPLETE, _JS, _CSS, _IMAGE, _API, _BEACON, _NOT_FOUND, _PROBE, _AUTH, _HEAD, _ROBOTS,
) = range(len(_KINDS))  # fmt: skip
_K_METHOD = [k.method for k in _KINDS]
_K_GAP = np.array([k.gap for k in _KINDS], dtype=np.int8)
_K_LATENCY = np.array([k.latency_ms for k in _KINDS])
_K_SIZE = np.array([k.size for k in _KINDS])
_K_P5XX = np.array([k.p_5xx for k in _KINDS])
_K_STATUS = np.array([k.status for k in _KINDS], dtype=np.int64)
_K_STATIC = np.isin(np.arange(len(_KINDS)), (_JS, _CSS, _IMAGE))
_K_NPATHS = np.array([len(k.paths) for k in _KINDS])
_K_PATH_OFFSET = np.concatenate(([0], np.cumsum(_K_NPATHS)[:-1]))
_ALL_PATHS = [p for k in _KINDS for p in k.paths]
# Paths are written into JSON strings and quoted log fields without escaping.
assert not any(c in p for p in _ALL_PATHS for c in ' "\\'), "paths must not need escaping"
_SUB_GAP_MS = np.array([0.0, 250.0, 120.0])  # mean gap before a sub-resource / redirect target
_MIN_GAP_MS = np.array([1_500.0, 15.0, 20.0])
_SERVER_ERRORS = np.array([500, 502, 503])
_SERVER_ERROR_CDF = _cdf([0.5, 0.3, 0.2])

# --- clients ------------------------------------------------------------------------------------

_DEVICES = ("desktop", "mobile", "tablet", "bot")
_DESKTOP, _MOBILE, _TABLET, _BOT_DEVICE = range(4)
_DEVICE_P = np.array([0.48, 0.42, 0.10])
_DEVICE_DRIFT = np.array([-0.15, 0.18, -0.03])
_DEVICE_LOGIT = np.array([0.25, -0.35, 0.0, 0.0])
_DEVICE_BOUNCE = np.array([0.26, 0.34, 0.30, 0.0])
_DEVICE_LATENCY = np.array([1.0, 1.5, 1.2, 0.9])
_DEVICE_THINK_MS = np.array([55_000.0, 65_000.0, 70_000.0, 0.0])

_CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
_BLINK = "AppleWebKit/537.36 (KHTML, like Gecko)"
# Twelve equally likely slots per human device; repetition sets the browser mix.
_HUMAN_UAS: tuple[tuple[str, ...], ...] = (
    (_CHROME_WIN,) * 4
    + (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_BLINK} Chrome/119.0.0.0 Safari/537.36",)
    * 2
    + (f"{_CHROME_WIN} Edg/120.0.2210.61",) * 2
    + ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",)
    + (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT} Version/17.1 Safari/605.1.15",)
    * 2
    + ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",),
    (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) {_WEBKIT} Version/17.1.2 "
        "Mobile/15E148 Safari/604.1",
    )
    * 5
    + (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) {_WEBKIT} "
        "CriOS/120.0.6099.101 Mobile/15E148 Safari/604.1",
        f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_BLINK} Chrome/120.0.6099.43 Mobile "
        "Safari/537.36",
        f"Mozilla/5.0 (Linux; Android 14; Pixel 7a) {_BLINK} Chrome/120.0.6099.43 Mobile "
        "Safari/537.36",
        f"Mozilla/5.0 (Linux; Android 13; SM-A536B) {_BLINK} Chrome/119.0.6045.163 Mobile "
        "Safari/537.36",
    )
    + (
        f"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) {_BLINK} SamsungBrowser/23.0 "
        "Chrome/115.0.0.0 Mobile Safari/537.36",
    )
    * 2
    + ("Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",),
    (f"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) {_WEBKIT} Version/17.1 Mobile/15E148 "
     "Safari/604.1",) * 7
    + (f"Mozilla/5.0 (Linux; Android 14; SM-X710) {_BLINK} Chrome/120.0.0.0 Safari/537.36",) * 4
    + (
        f"Mozilla/5.0 (Linux; Android 9; KFTRWI) {_BLINK} Silk/120.3.1 like Chrome/120.0.6099.230 "
        "Safari/537.36",
    ),
)  # fmt: skip
_UA_SLOTS_PER_DEVICE = 12
assert all(len(uas) == _UA_SLOTS_PER_DEVICE for uas in _HUMAN_UAS)


@dataclass(frozen=True)
class _Country:
    """A visitor country, its traffic weight and the UTC offsets its visitors' clocks show."""

    code: str
    weight: float
    offsets: tuple[str, ...]  # four equally likely slots
    drift: float = 0.0  # weight added per unit of drift strength (a growing market)


def _same(offset: str) -> tuple[str, ...]:
    return (offset,) * 4


_CET = _same("+01:00")
_COUNTRIES = (
    _Country("US", 0.30, ("-05:00", "-05:00", "-06:00", "-08:00")),
    _Country("DE", 0.10, _CET),
    _Country("GB", 0.09, _same("Z")),
    _Country("FR", 0.07, _CET),
    _Country("IN", 0.05, _same("+05:30"), drift=0.10),
    _Country("BR", 0.05, _same("-03:00")),
    _Country("JP", 0.05, _same("+09:00")),
    _Country("CA", 0.04, ("-05:00", "-05:00", "-07:00", "-08:00")),
    _Country("ES", 0.03, _CET),
    _Country("IT", 0.03, _CET),
    _Country("NL", 0.03, _CET),
    _Country("AU", 0.03, ("+11:00", "+11:00", "+10:30", "+08:00")),
    _Country("MX", 0.03, _same("-06:00")),
    _Country("PL", 0.02, _CET),
    _Country("SE", 0.02, _CET),
    _Country("KR", 0.02, _same("+09:00")),
    _Country("IE", 0.015, _same("+00:00")),
    _Country("SG", 0.01, _same("+08:00")),
    _Country("NP", 0.005, _same("+05:45")),
    _Country("ID", 0.003, _same("+07:00"), drift=0.08),
)
_COUNTRY_INDEX = {c.code: i for i, c in enumerate(_COUNTRIES)}
_OFFSETS = sorted({o for c in _COUNTRIES for o in c.offsets})
_OFFSET_SLOTS = np.array([[_OFFSETS.index(o) for o in c.offsets] for c in _COUNTRIES])


def _offset_ms(offset: str) -> int:
    if offset == "Z":
        return 0
    sign = -1 if offset[0] == "-" else 1
    return sign * (int(offset[1:3]) * 60 + int(offset[4:6])) * 60_000


_OFFSET_MS = np.array([_offset_ms(o) for o in _OFFSETS], dtype=np.int64)


@dataclass(frozen=True)
class _Bot:
    """A crawler, scraper, monitor or scanner: its agent, pace and the requests it makes."""

    ua: str
    weight: float
    profile: tuple[tuple[int, float], ...]  # (kind, probability) of each request
    pages: tuple[int, float]  # minimum requests, mean extra requests
    gap_ms: float
    ip: str  # first of eight consecutive addresses
    country: str
    robots_first: bool = False


_GOOGLEBOT = "compatible; Googlebot/2.1; +http://www.google.com/bot.html"
_CRAWL = (
    (_PRODUCT, 0.55), (_CATEGORY, 0.15), (_HOME, 0.04), (_SEARCH, 0.04), (_IMAGE, 0.12),
    (_ROBOTS, 0.03), (_NOT_FOUND, 0.04), (_HEAD, 0.03),
)  # fmt: skip
_BOTS = (
    _Bot(f"Mozilla/5.0 ({_GOOGLEBOT})", 0.25, _CRAWL, (3, 25), 2_500, "192.0.2.16", "US", True),
    _Bot(
        f"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) {_BLINK} "
        f"Chrome/120.0.6099.216 Mobile Safari/537.36 ({_GOOGLEBOT})",
        0.15, _CRAWL, (3, 20), 2_500, "192.0.2.24", "US", True,
    ),
    _Bot(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        0.18, _CRAWL, (3, 20), 3_000, "192.0.2.40", "US", True,
    ),
    _Bot(
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        0.12, _CRAWL, (5, 35), 1_200, "192.0.2.80", "SG", True,
    ),
    _Bot("curl/8.4.0", 0.10, ((_HEAD, 0.6), (_HOME, 0.4)), (1, 1), 15_000, "198.51.100.200", "DE"),
    _Bot(
        "python-requests/2.31.0",
        0.14, ((_PRODUCT, 0.75), (_SEARCH, 0.12), (_API, 0.10), (_NOT_FOUND, 0.03)),
        (10, 30), 400, "198.51.100.220", "US",
    ),
    # A vulnerability scanner; its agent carries quotes, which logs must escape.
    _Bot(
        'Mozilla/5.0 (compatible; "SecurityScanBot"/2.1; +https://scanner.example.net/bot.html)',
        0.06, ((_PROBE, 0.72), (_AUTH, 0.2), (_HOME, 0.05), (_HEAD, 0.03)),
        (8, 15), 250, "203.0.113.240", "NL",
    ),
)  # fmt: skip
_BOT_P = _cdf([b.weight for b in _BOTS])
_BOT_KINDS = [np.array([k for k, _ in b.profile]) for b in _BOTS]
_BOT_KIND_CDFS = [_cdf([p for _, p in b.profile]) for b in _BOTS]
_BOT_GAP_MS = np.array([b.gap_ms for b in _BOTS])
_BOT_COUNTRY = np.array([_COUNTRY_INDEX[b.country] for b in _BOTS])

_UAS = sorted({ua for uas in _HUMAN_UAS for ua in uas}) + [b.ua for b in _BOTS]
_UA_SLOTS = np.array([[_UAS.index(ua) for ua in uas] for uas in _HUMAN_UAS])
_BOT_UA = np.array([_UAS.index(b.ua) for b in _BOTS])

# --- addresses ----------------------------------------------------------------------------------


def _ip_to_int(ip: str) -> int:
    a, b, c, d = (int(x) for x in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


# Private and documentation ranges only: (network, number of /24 subnets, weight).
_IP_BLOCKS = (
    ("10.0.0.0", 1 << 16, 0.5),
    ("172.16.0.0", 1 << 12, 0.15),
    ("192.168.0.0", 1 << 8, 0.15),
    ("203.0.113.0", 1, 0.1),
    ("198.51.100.0", 1, 0.1),
)
_IP_BASE = np.array([_ip_to_int(net) for net, _, _ in _IP_BLOCKS], dtype=np.int64)
_IP_SUBNETS = np.array([n for _, n, _ in _IP_BLOCKS], dtype=np.int64)
_IP_CDF = _cdf([w for _, _, w in _IP_BLOCKS])
_BOT_IP = np.array([_ip_to_int(b.ip) for b in _BOTS], dtype=np.int64)
assert all(ip & 255 <= 255 - 8 for ip in _BOT_IP.tolist()), "a bot's addresses stay in one /24"


def _random_ips(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    block = _pick(_IP_CDF, rng.random(shape))
    subnet = (rng.random(shape) * _IP_SUBNETS[block]).astype(np.int64)
    host = rng.integers(1, 255, size=shape, dtype=np.int64)
    return _IP_BASE[block] + subnet * 256 + host


def _ip_strings(ips: np.ndarray) -> list[str]:
    octets = [((ips >> shift) & 255).tolist() for shift in (24, 16, 8, 0)]
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*octets, strict=True)]


# --- time formatting tables ---------------------------------------------------------------------

_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{i:03d}" for i in range(1000)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --- simulation ---------------------------------------------------------------------------------


def _device_weights(drift: float) -> np.ndarray:
    return np.clip(_DEVICE_P + drift * _DEVICE_DRIFT, 0.01, None)


def _country_weights(drift: float) -> np.ndarray:
    return np.array([c.weight + drift * c.drift for c in _COUNTRIES])


def _referrer_weights(drift: float) -> np.ndarray:
    return np.array([r.weight + drift * r.drift for r in _REFERRERS])


def _shares(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


class _UserPool:
    """Logged-in users: fixed device, country, clock and addresses; visits accumulate over days."""

    def __init__(self, size: int, rng: np.random.Generator, drift: float) -> None:
        u = rng.random((size, 5))
        self.drift = drift
        self.device = _pick(_cdf(_device_weights(drift)), u[:, 0]).astype(np.int8)
        self.country = _pick(_cdf(_country_weights(drift)), u[:, 1]).astype(np.int8)
        self.offset = _OFFSET_SLOTS[self.country, _slot(u[:, 2], 4)].astype(np.int8)
        self.ua = _UA_SLOTS[self.device, _slot(u[:, 3], _UA_SLOTS_PER_DEVICE)].astype(np.int16)
        self.ips = _random_ips(rng, (size, 3)).astype(np.uint32)
        self.n_ips = (1 + _slot(u[:, 4], 3)).astype(np.int8)
        # Skewed activity: a few users visit several times a day, most only now and then.
        self.activity = rng.gamma(0.5, size=size) + 0.01
        self.base_cdf = _cdf(self.activity)
        self.cdf = self.base_cdf
        self.visits = np.zeros(size, dtype=np.int32)

    def pick(self, u: np.ndarray) -> np.ndarray:
        return _pick(self.cdf, u)

    def follow(self, drift: float) -> None:
        """Re-weight activity so that logged-in traffic has the device and country mix of
        ``drift`` (likelihood ratio of the day's shares to the pool's); unchanged at its own."""
        if drift == self.drift:
            self.cdf = self.base_cdf
            return
        device = _shares(_device_weights(drift)) / _shares(_device_weights(self.drift))
        country = _shares(_country_weights(drift)) / _shares(_country_weights(self.drift))
        self.cdf = _cdf(self.activity * device[self.device] * country[self.country])


@dataclass
class _Sessions:
    """Session-level attributes of a batch of sessions (one entry per session)."""

    bot: np.ndarray
    bot_type: np.ndarray
    user: np.ndarray  # -1 for anonymous visitors and bots
    device: np.ndarray
    country: np.ndarray
    offset: np.ndarray
    ua: np.ndarray
    ip: np.ndarray
    ref: np.ndarray  # index into _REFERRERS, -1 for none
    http2: np.ndarray
    n_products: np.ndarray
    stage: np.ndarray  # 0 browse, 1 cart, 2 checkout, 3 purchase
    cached: np.ndarray  # static files answered 304 for this browser
    think_ms: np.ndarray
    session_id: np.ndarray

    def head(self, k: int) -> _Sessions:
        return _Sessions(**{f.name: getattr(self, f.name)[:k] for f in fields(self)})


@dataclass
class _Batch:
    """Events of a batch of sessions in session order, ready to render."""

    sessions: _Sessions
    kinds: list[int]
    session_of: np.ndarray  # session index per event
    ms: np.ndarray  # UTC epoch milliseconds
    path: list[str]
    ref_pos: list[int]  # event whose page is the referrer, -1 for the session referrer
    status: list[int]
    nbytes: list[int]
    latency_ms: np.ndarray


class _Renderer(abc.ABC):
    """Turns a batch of events into log lines of one format."""

    null_ref: str

    def __init__(self) -> None:
        self.ext_refs = [self.quote(r.url) if r.url else self.null_ref for r in _REFERRERS]

    @staticmethod
    @abc.abstractmethod
    def quote(value: str) -> str:
        """A string field, quoted and escaped for the format."""

    def session_refs(self, s: _Sessions) -> list[str]:
        return [self.ext_refs[r] if r >= 0 else self.null_ref for r in s.ref.tolist()]

    def event_refs(self, b: _Batch) -> list[str]:
        session_refs = self.session_refs(b.sessions)
        path = b.path
        return [
            f'"{SITE}{path[p]}"' if p >= 0 else session_refs[s]
            for p, s in zip(b.ref_pos, b.session_of.tolist(), strict=True)
        ]

    @abc.abstractmethod
    def render(self, b: _Batch, dates: list[str], first_day: int) -> list[str]:
        """One line per event, in the batch's order; ``dates[d]`` is day ``first_day + d``."""


def _clock(ms: np.ndarray, first_day: int) -> tuple[list[int], list[int], list[int]]:
    """Split epoch milliseconds into (day index from ``first_day``, second of day, millis)."""
    day, in_day = np.divmod(ms, _DAY_MS)
    sec, millis = np.divmod(in_day, 1000)
    return (day - first_day).tolist(), sec.tolist(), millis.tolist()


class _JsonRenderer(_Renderer):
    null_ref = "null"

    @staticmethod
    def quote(value: str) -> str:
        return json.dumps(value)

    def render(self, b: _Batch, dates: list[str], first_day: int) -> list[str]:
        s = b.sessions
        ips = _ip_strings(s.ip)
        users = [f'"u{u:07d}"' if u >= 0 else "null" for u in s.user.tolist()]
        heads = [
            f'{_OFFSETS[o]}", "ip": "{ip}", "user_id": {user}, "session_id": "s-{sid:016x}", "method": "'
            for o, ip, user, sid in zip(s.offset.tolist(), ips, users, s.session_id.tolist(), strict=True)
        ]
        protos = [
            f'", "protocol": "{"HTTP/2.0" if h2 else "HTTP/1.1"}", "status": ' for h2 in s.http2.tolist()
        ]
        tails = [
            f', "user_agent": {_JSON_UAS[ua]}, "device": "{_DEVICES[d]}", "country": "{_COUNTRIES[c].code}"}}'
            for ua, d, c in zip(s.ua.tolist(), s.device.tolist(), s.country.tolist(), strict=True)
        ]
        local = b.ms + _OFFSET_MS[s.offset][b.session_of]
        days, secs, millis = _clock(local, first_day)
        refs = self.event_refs(b)
        return [
            f'{{"ts": "{dates[d]}T{_HMS[sec]}.{_MILLIS[m]}{heads[i]}{_K_METHOD[k]}", "path": "{p}'
            f'{protos[i]}{st}, "bytes": {nb}, "latency_ms": {lat}, "referrer": {r}{tails[i]}'
            for i, k, p, st, nb, lat, r, d, sec, m in zip(
                b.session_of.tolist(),
                b.kinds,
                b.path,
                b.status,
                b.nbytes,
                b.latency_ms.tolist(),
                refs,
                days,
                secs,
                millis,
                strict=True,
            )
        ]


def _clf_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class _CombinedRenderer(_Renderer):
    null_ref = '"-"'

    @staticmethod
    def quote(value: str) -> str:
        return f'"{_clf_escape(value)}"'

    def render(self, b: _Batch, dates: list[str], first_day: int) -> list[str]:
        s = b.sessions
        heads = [
            f"{ip} - {f'u{u:07d}' if u >= 0 else '-'} ["
            for ip, u in zip(_ip_strings(s.ip), s.user.tolist(), strict=True)
        ]
        protos = [f' {"HTTP/2.0" if h2 else "HTTP/1.1"}" ' for h2 in s.http2.tolist()]
        tails = [f' "{_CLF_UAS[ua]}" "' for ua in s.ua.tolist()]
        days, secs, _ = _clock(b.ms, first_day)
        seconds, millis = np.divmod(np.rint(b.latency_ms).astype(np.int64), 1000)
        refs = self.event_refs(b)
        return [
            f'{heads[i]}{dates[d]}:{_HMS[sec]} +0000] "{_K_METHOD[k]} {p}{protos[i]}{st} '
            f'{nb or "-"} {r}{tails[i]}{rs}.{_MILLIS[rm]}"'
            for i, k, p, st, nb, r, d, sec, rs, rm in zip(
                b.session_of.tolist(),
                b.kinds,
                b.path,
                b.status,
                b.nbytes,
                refs,
                days,
                secs,
                seconds.tolist(),
                millis.tolist(),
                strict=True,
            )
        ]


_JSON_UAS = [json.dumps(ua) for ua in _UAS]
_CLF_UAS = [_clf_escape(ua) for ua in _UAS]
_RENDERERS: dict[str, type[_Renderer]] = {"jsonl": _JsonRenderer, "combined": _CombinedRenderer}


def _human_kinds(
    u: list[float], j: int, n_products: int, stage: int, campaign: bool, mobile: bool
) -> tuple[list[int], int]:
    """Requests of one human session, driven by uniforms ``u`` from index ``j``.

    Returns the request kinds and the next unused index of ``u`` (at most 64 are used).
    """
    ev = [_LANDING if campaign else _HOME]
    if u[j] < 0.9:  # the page's assets (some browsers have everything cached or blocked)
        ev += [_JS, _CSS] + [_IMAGE] * (1 + int(u[j + 1] * 3))
    j += 2
    for _ in range(n_products):
        x = u[j]
        if x < 0.18:
            ev.append(_SEARCH)
            if x < 0.08:
                ev.append(_API)  # search suggestions
        elif x < 0.30:
            ev += [_CATEGORY, _IMAGE]
        ev.append(_PRODUCT)
        ev += [_IMAGE] * (1 + int(u[j + 1] * 2))
        if u[j + 2] < 0.5:
            ev.append(_API)  # recommendations
        j += 3
    if stage >= 1:
        ev += [_CART_ADD, _CART]
    if stage >= 2:
        ev += [_CHECKOUT, _CHECKOUT_POST]
    if stage >= 3:
        ev.append(_COMPLETE)
    extras = []
    if u[j] < 0.04:
        extras.append(_NOT_FOUND)  # a broken link or a missing image
    if u[j + 1] < 0.025:
        extras.append(_AUTH)  # an expired login
    extras += [_BEACON] * int(u[j + 2] * (3.0 if mobile else 1.4))
    j += 3
    for kind in extras:
        ev.insert(1 + int(u[j] * len(ev)), kind)
        j += 1
    return ev, j


class _Simulator:
    """Simulates the whole run day by day, carrying users and late events across days."""

    def __init__(
        self,
        start: dt.date,
        days: int,
        events_per_day: int,
        fmt: str,
        seed: int,
        drift: Sequence[float],
    ) -> None:
        self.start = start
        self.days = days
        self.seed = seed
        self.renderer = _RENDERERS[fmt]()
        self.fmt = fmt
        self.drift = tuple(drift)  # strength of each day
        self._set_drift(self.drift[0])
        self.slice_ms = next(
            (ms for ms in _SLICE_MS_CHOICES if events_per_day * ms / _DAY_MS <= _EVENTS_PER_SLICE),
            _SLICE_MS_CHOICES[-1],
        )
        hours = np.arange(len(_HOURLY) + 1)
        weights = np.interp(
            (np.arange(_DAY_MS // self.slice_ms) + 0.5) * self.slice_ms / 3_600_000,
            hours,
            _HOURLY + _HOURLY[:1],
        )
        self.slice_events = (events_per_day * weights / weights.sum()).tolist()
        self.events_per_day = events_per_day
        self.events_per_session = _EVENTS_PER_SESSION
        sessions_per_day = events_per_day / _EVENTS_PER_SESSION
        pool_size = int(np.clip(1.5 * 0.6 * sessions_per_day, 50, _MAX_POOL))
        pool_rng = np.random.default_rng([seed, 0, 0])
        self.pool = _UserPool(pool_size, pool_rng, self.drift[0])
        self.late = _LateQueue()

    def _set_drift(self, drift: float) -> None:
        """The traffic mix, latency and conversion of a day of strength ``drift``."""
        self.device_cdf = _cdf(_device_weights(drift))
        self.country_cdf = _cdf(_country_weights(drift))
        self.ref_cdf = _cdf(_referrer_weights(drift))
        self.latency_factor = 1.0 + 0.5 * drift
        self.conversion_step = 0.5 ** (drift / 2)  # applied twice: cart and purchase

    def _draw_sessions(self, rng: np.random.Generator, n: int) -> _Sessions:
        pool = self.pool
        u = rng.random((n, 16))
        bot = u[:, 0] < _P_BOT
        logged = ~bot & (u[:, 1] < _P_LOGGED_IN)
        user = np.where(logged, pool.pick(u[:, 2]), -1)
        member = np.maximum(user, 0)
        bot_type = _pick(_BOT_P, u[:, 3])
        device = np.where(logged, pool.device[member], _pick(self.device_cdf, u[:, 4]))
        device = np.where(bot, _BOT_DEVICE, device)
        country = np.where(logged, pool.country[member], _pick(self.country_cdf, u[:, 5]))
        country = np.where(bot, _BOT_COUNTRY[bot_type], country)
        offset = np.where(logged, pool.offset[member], _OFFSET_SLOTS[country, _slot(u[:, 6], 4)])
        human_ua = _UA_SLOTS[np.minimum(device, _TABLET), _slot(u[:, 7], _UA_SLOTS_PER_DEVICE)]
        ua = np.where(bot, _BOT_UA[bot_type], np.where(logged, pool.ua[member], human_ua))
        member_ip = pool.ips[member, (u[:, 8] * pool.n_ips[member]).astype(np.intp)]
        bot_ip = _BOT_IP[bot_type] + _slot(u[:, 9], 8)
        ip = np.where(logged, member_ip, np.where(bot, bot_ip, _random_ips(rng, n)))
        ref = np.where(bot, -1, _pick(self.ref_cdf, u[:, 10]))
        http2 = ~bot & (u[:, 11] < 0.65)
        visits = np.where(logged, pool.visits[member], 0)
        # The funnel: products viewed, then cart, checkout and purchase with probabilities that
        # depend on device, referrer and the user's history.
        ref_or_direct = np.maximum(ref, 0)
        bounced = u[:, 12] < _DEVICE_BOUNCE[device] + _REF_BOUNCE[ref_or_direct]
        n_products = np.where(bounced | bot, 0, np.minimum(rng.geometric(0.4, n), 12))
        returning = np.minimum(np.log1p(visits), 2.5)
        device_logit = _DEVICE_LOGIT[device]
        p_cart = _sigmoid(
            -2.2
            + device_logit
            + _REF_LOGIT[ref_or_direct]
            + 0.45 * returning
            + 0.25 * logged
            + 0.12 * (n_products - 1)
        )
        p_checkout = _sigmoid(0.5 * device_logit + 0.3 * returning)
        p_purchase = _sigmoid(0.6 + 0.5 * device_logit + 0.3 * returning)
        cart = (n_products > 0) & (u[:, 13] < p_cart * self.conversion_step)
        checkout = cart & (u[:, 14] < p_checkout)
        purchase = checkout & (rng.random(n) < p_purchase * self.conversion_step)
        cached = np.where(logged & (visits > 0), u[:, 15] < 0.8, u[:, 15] < 0.25)
        return _Sessions(
            bot=bot,
            bot_type=bot_type,
            user=user,
            device=device,
            country=country,
            offset=offset,
            ua=ua,
            ip=ip,
            ref=ref,
            http2=http2,
            n_products=n_products,
            stage=cart.astype(np.int64) + checkout + purchase,
            cached=cached,
            think_ms=np.where(bot, _BOT_GAP_MS[bot_type], _DEVICE_THINK_MS[device]),
            session_id=rng.integers(0, 1 << 64, size=n, dtype=np.uint64),
        )

    def _bot_kinds(self, rng: np.random.Generator, bot_type: int) -> list[int]:
        bot = _BOTS[bot_type]
        minimum, mean_extra = bot.pages
        n = minimum + int(rng.geometric(1.0 / (1.0 + mean_extra))) - 1
        kinds = _BOT_KINDS[bot_type][_pick(_BOT_KIND_CDFS[bot_type], rng.random(n))].tolist()
        if bot.robots_first:
            kinds[0] = _ROBOTS
        return kinds

    def _session_kinds(
        self, rng: np.random.Generator, s: _Sessions, budget: float
    ) -> tuple[list[int], list[int]]:
        """Request kinds of the first sessions whose events fill ``budget``; and counts."""
        kinds: list[int] = []
        counts: list[int] = []
        u = rng.random(len(s.bot) * 24 + 64).tolist()
        j = 0
        total = 0
        campaign = (_REF_LANDING[np.maximum(s.ref, 0)] >= 0) & (s.ref >= 0)
        for bot, bot_type, n_products, stage, camp, device in zip(
            s.bot.tolist(),
            s.bot_type.tolist(),
            s.n_products.tolist(),
            s.stage.tolist(),
            campaign.tolist(),
            s.device.tolist(),
            strict=True,
        ):
            if total >= budget:
                break
            if bot:
                ev = self._bot_kinds(rng, bot_type)
            else:
                if j + 64 > len(u):
                    u += rng.random(4096).tolist()
                ev, j = _human_kinds(u, j, n_products, stage, camp, device != _DESKTOP)
            kinds += ev
            counts.append(len(ev))
            total += len(ev)
        return kinds, counts

    def _batch(
        self, rng: np.random.Generator, slice_start: int, budget: float, day_end: int
    ) -> tuple[_Batch, np.ndarray]:
        """Simulate sessions starting in one slice until ``budget`` events; and the late mask."""
        n_candidates = int(budget / self.events_per_session * 1.3) + 2
        s = self._draw_sessions(rng, n_candidates)
        kind_list, count_list = self._session_kinds(rng, s, budget)
        k = len(count_list)
        s = s.head(k)
        logged = s.user >= 0
        np.add.at(self.pool.visits, s.user[logged], 1)
        self.events_per_session = 0.9 * self.events_per_session + 0.1 * len(kind_list) / k

        kinds = np.array(kind_list, dtype=np.intp)
        n = len(kinds)
        counts = np.array(count_list)
        first = np.cumsum(counts) - counts
        session_of = np.repeat(np.arange(k), counts)
        gap_class = _K_GAP[kinds]
        bot = s.bot[session_of]
        scale = np.where(bot | (gap_class == 0), s.think_ms[session_of], _SUB_GAP_MS[gap_class])
        gaps = rng.exponential(1.0, n) * scale + np.where(bot, 50.0, _MIN_GAP_MS[gap_class])
        gaps[first] = 0.0
        elapsed = np.cumsum(gaps)
        elapsed -= elapsed[first][session_of]
        start = slice_start + rng.random(k) * self.slice_ms
        ms = np.floor(start[session_of] + elapsed).astype(np.int64)

        u = rng.random((n, 5))
        param = (u[:, 0] * _K_NPATHS[kinds]).astype(np.int64)
        product = kinds == _PRODUCT
        param[product] = _pick(_PRODUCT_CDF, u[product, 0])
        landing = kinds == _LANDING
        param[landing] = _REF_LANDING[s.ref[session_of[landing]]]
        path = [_ALL_PATHS[i] for i in (_K_PATH_OFFSET[kinds] + param).tolist()]

        status = _K_STATUS[kinds].copy()
        status[(kinds == _AUTH) & (u[:, 1] < 0.6)] = 403
        status[_K_STATIC[kinds] & s.cached[session_of] & (u[:, 1] < 0.7)] = 304
        status[product & (u[:, 1] < 0.004)] = 404  # a discontinued product
        failed = u[:, 2] < _K_P5XX[kinds]
        status[failed] = _SERVER_ERRORS[_pick(_SERVER_ERROR_CDF, u[failed, 3])]

        z = rng.standard_normal((n, 2))
        latency = (
            _K_LATENCY[kinds]
            * np.exp(0.6 * z[:, 0])
            * _DEVICE_LATENCY[s.device[session_of]]
            * self.latency_factor
        )
        latency *= np.select([status == 304, status == 502, status >= 500], [0.4, 6.0, 2.5], 1.0)
        latency = np.maximum(np.round(latency, 1), 0.1)
        size = np.select(
            [status >= 500, status == 404, (status == 401) | (status == 403)],
            [560.0, 1_650.0, 320.0],
            _K_SIZE[kinds],
        ) * np.exp(0.3 * z[:, 1])
        size[(status == 304) | (status == 204) | (kinds == _HEAD)] = 0.0

        # Referrer: the previous page for a page view, the current page for its sub-resources
        # (and for a broken link, which the visitor leaves again).
        is_page = (gap_class != 1) & (kinds != _NOT_FOUND)
        page_at = np.maximum.accumulate(np.where(is_page, np.arange(n), -1))
        previous_page = np.concatenate(([-1], page_at[:-1]))
        ref_pos = np.where(is_page, previous_page, page_at)
        ref_pos[(ref_pos < first[session_of]) | bot] = -1

        late = (s.device[session_of] == _MOBILE) & (ms < day_end) & (u[:, 4] < _P_LATE_MOBILE)
        batch = _Batch(
            sessions=s,
            kinds=kinds.tolist(),
            session_of=session_of,
            ms=ms,
            path=path,
            ref_pos=ref_pos.tolist(),
            status=status.tolist(),
            nbytes=size.astype(np.int64).tolist(),
            latency_ms=latency,
        )
        return batch, late

    def day_chunks(self, index: int) -> Iterator[list[str]]:
        """Lines of day ``index`` in write order, in chunks; days must be generated in order."""
        self._set_drift(self.drift[index])
        self.pool.follow(self.drift[index])
        rng = np.random.default_rng([self.seed, index, 1])
        day = self.start + dt.timedelta(days=index)
        first_day = (day - _EPOCH).days - 2  # local clocks can show two days earlier
        dates = [_format_date(day + dt.timedelta(days=d - 2), self.fmt) for d in range(6)]
        day_start = (first_day + 2) * _DAY_MS
        day_end = day_start + _DAY_MS
        arriving = self.late.arrivals(rng, day_start)
        held_back = _LateQueue() if index + 1 < self.days else None
        pending_ms = np.empty(0, dtype=np.int64)
        pending: list[str] = []
        # A random phase, so that tiny volumes do not always start with a session at midnight.
        budget = -rng.random() * min(self.events_per_session, 0.5 * self.events_per_day)
        for slice_index, slice_events in enumerate(self.slice_events):
            slice_start = day_start + slice_index * self.slice_ms
            slice_end = slice_start + self.slice_ms
            late_ms, late_lines = arriving.until(slice_end)
            new_ms = [pending_ms, late_ms]
            pending += late_lines
            budget += slice_events
            while budget > 0:
                batch, late = self._batch(rng, slice_start, budget, day_end)
                budget -= len(batch.kinds)
                lines = self.renderer.render(batch, dates, first_day)
                if held_back is not None and late.any():
                    held_back.add([lines[i] for i in np.flatnonzero(late).tolist()])
                    on_time = np.flatnonzero(~late)
                    lines = [lines[i] for i in on_time.tolist()]
                    new_ms.append(batch.ms[on_time])
                else:
                    new_ms.append(batch.ms)
                pending += lines
            keys = np.concatenate(new_ms)
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            cut = int(np.searchsorted(keys, slice_end))
            order_list = order.tolist()
            yield [pending[i] for i in order_list[:cut]]
            pending = [pending[i] for i in order_list[cut:]]
            pending_ms = keys[cut:]
        yield pending  # the rest of sessions that cross midnight, already in time order
        self.late = held_back or _LateQueue()


class _LateQueue:
    """Events held back for the next day's file, kept compressed while they wait."""

    def __init__(self) -> None:
        self.count = 0
        self._blocks: list[bytes] = []

    def add(self, lines: list[str]) -> None:
        self._blocks.append(zlib.compress("\n".join(lines).encode("utf-8"), 1))
        self.count += len(lines)

    def _lines(self) -> Iterator[str]:
        for block in self._blocks:
            yield from zlib.decompress(block).decode("utf-8").split("\n")

    def arrivals(self, rng: np.random.Generator, day_start: int) -> _Arrivals:
        """The held-back events arrive during the day starting at ``day_start``, in order."""
        offsets = np.sort(rng.random(self.count)) * _DAY_MS
        return _Arrivals(day_start + offsets.astype(np.int64), self._lines())


class _Arrivals:
    """Late events with their (sorted) arrival times, handed out slice by slice."""

    def __init__(self, ms: np.ndarray, lines: Iterator[str]) -> None:
        self._ms = ms
        self._lines = lines
        self._next = 0

    def until(self, end_ms: int) -> tuple[np.ndarray, list[str]]:
        start = self._next
        self._next = int(np.searchsorted(self._ms, end_ms))
        return self._ms[start : self._next], list(itertools.islice(self._lines, self._next - start))


def _format_date(day: dt.date, fmt: str) -> str:
    if fmt == "jsonl":
        return day.isoformat()
    return f"{day.day:02d}/{_MONTHS[day.month - 1]}/{day.year}"


# --- malformed lines ----------------------------------------------------------------------------

_NOISE = np.array(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()*+,-./:;<=>?@[]^_`{|}~\"\\")
)
_NOISE_START = "ghjkmopqrsuvwxyzGHJKLMOPQRSUVWXYZ#%&*<>?@^~"


class _Malformer:
    """Replaces a random share of lines by lines a log parser must reject."""

    def __init__(self, rng: np.random.Generator, rate: float, fmt: str, day: dt.date) -> None:
        self.rng = rng
        self.rate = rate
        self.fmt = fmt
        self.day = day
        self.count = 0
        self._next = self._gap() - 1  # index of the next victim in the coming chunk

    def _gap(self) -> int:
        return int(self.rng.geometric(self.rate)) if self.rate > 0 else 1 << 62

    def apply(self, chunk: list[str]) -> list[str]:
        i = self._next
        while i < len(chunk):
            chunk[i] = self._corrupt(chunk[i])
            self.count += 1
            i += self._gap()
        self._next = i - len(chunk)
        return chunk

    def _corrupt(self, line: str) -> str:
        rng = self.rng
        how = int(rng.integers(4))
        if how == 0:  # truncated, cut where a quoted field or the JSON object is left open
            return line[: self._cut(line)]
        if how == 1:  # binary noise (a TLS handshake on the HTTP port) or random garbage
            if rng.random() < 0.5:
                return "\\x16\\x03\\x01" + "".join(
                    f"\\x{b:02X}" for b in rng.integers(0, 256, int(rng.integers(8, 40)))
                )
            noise = "".join(rng.choice(_NOISE, int(rng.integers(10, 120))).tolist())
            return _NOISE_START[int(rng.integers(len(_NOISE_START)))] + noise
        if how == 2:  # a broken quote
            if self.fmt == "jsonl":
                return line.replace('"user_agent": "', '"user_agent": ""', 1)
            close = line.index('"', line.index('] "') + 3)
            return line[:close] + line[close + 1 :]
        # a line of another log: the web server's error log
        t = self.day.strftime("%Y/%m/%d")
        h, m, sec, pid, conn, host = rng.integers([0, 0, 0, 1000, 1, 1], [24, 60, 60, 9999, 99999, 255])
        return (
            f"{t} {h:02d}:{m:02d}:{sec:02d} [error] {pid}#{pid}: *{conn} upstream timed out "
            f"(110: Connection timed out) while reading response header from upstream, client: "
            f'203.0.113.{host}, server: shop.example.com, request: "GET /api/cart HTTP/1.1"'
        )

    def _cut(self, line: str) -> int:
        rng = self.rng
        if self.fmt == "jsonl":
            return int(rng.integers(len(line) // 3, len(line) - 1))
        if rng.random() < 0.5:  # inside the request
            start = line.index('] "') + 3
            return int(rng.integers(start, line.index('"', start)))
        start = line.rindex('"', 0, len(line) - 1) + 1  # inside the request time
        return int(rng.integers(start, len(line) - 1))


# --- files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedFile:
    """One written log file and what it holds (``lines`` = ``events`` + ``malformed``)."""

    path: Path
    date: dt.date
    events: int
    lines: int
    malformed: int


def log_file_name(day: dt.date, fmt: str, gzip: bool = False) -> str:
    """``access-YYYY-MM-DD.jsonl`` or ``access-YYYY-MM-DD.log``, plus ``.gz`` when compressed."""
    ext = "jsonl" if fmt == "jsonl" else "log"
    return f"access-{day.isoformat()}.{ext}" + (".gz" if gzip else "")


def _write_lines(path: Path, chunks: Iterable[list[str]], compress: bool) -> int:
    """Write chunks of lines to ``.<name>.part`` beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.part")
    count = 0
    try:
        with open(tmp, "wb") as raw:
            sink = (
                gzip_lib.GzipFile(filename=path.name, mode="wb", compresslevel=6, fileobj=raw, mtime=0)
                if compress
                else raw
            )
            try:
                for chunk in chunks:
                    for i in range(0, len(chunk), _WRITE_LINES):
                        part = chunk[i : i + _WRITE_LINES]
                        sink.write(("\n".join(part) + "\n").encode("utf-8"))
                    count += len(chunk)
            finally:
                if sink is not raw:
                    sink.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"start_date must be a date or YYYY-MM-DD, got {value!r}") from None


def _drift_schedule(drift: float | Sequence[float], days: int) -> tuple[float, ...]:
    """The drift strength of each day, validated."""
    if isinstance(drift, str) or not isinstance(drift, Sequence | np.ndarray):
        schedule = (drift,) * days
    else:
        schedule = tuple(drift)
        if len(schedule) != days:
            raise ValueError(f"a drift schedule needs one strength per day ({days}), got {len(schedule)}")
    for value in schedule:
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise ValueError(f"drift must be a number or a sequence of numbers, got {value!r}")
        if not 0.0 <= value <= MAX_DRIFT:
            raise ValueError(f"drift must be in [0, {MAX_DRIFT}], got {value}")
    return tuple(float(v) for v in schedule)


def generate_logs(
    out_dir: str | os.PathLike[str],
    start_date: dt.date | str,
    days: int,
    events_per_day: int,
    fmt: str = "jsonl",
    seed: int = 0,
    gzip: bool = False,
    drift: float | Sequence[float] = 0.0,
    malformed_rate: float = DEFAULT_MALFORMED_RATE,
    on_file: Callable[[GeneratedFile], None] | None = None,
) -> list[GeneratedFile]:
    """Write ``days`` daily log files of about ``events_per_day`` lines each into ``out_dir``.

    ``drift`` in [0, 2] scales the distribution shifts (0: none), for every day, or one value per
    day (a schedule such as ``[0.0] * 40 + [1.0] * 7``: one user population, normal days then
    drifted days; with the same ``days``, a day's file depends on the schedule up to that day only).
    ``malformed_rate`` is the share of lines replaced by unparseable ones. ``on_file`` is called as
    each file is published.
    """
    start = _as_date(start_date)
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if events_per_day < 1:
        raise ValueError(f"events_per_day must be >= 1, got {events_per_day}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    schedule = _drift_schedule(drift, days)
    if not 0.0 <= malformed_rate <= 1.0:
        raise ValueError(f"malformed_rate must be in [0, 1], got {malformed_rate}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    simulator = _Simulator(start, days, events_per_day, fmt, seed, schedule)
    written = []
    for index in range(days):
        day = start + dt.timedelta(days=index)
        path = out / log_file_name(day, fmt, gzip)
        malformer = _Malformer(np.random.default_rng([seed, index, 2]), malformed_rate, fmt, day)
        chunks = (malformer.apply(chunk) for chunk in simulator.day_chunks(index))
        lines = _write_lines(path, chunks, gzip)
        result = GeneratedFile(path, day, lines - malformer.count, lines, malformer.count)
        written.append(result)
        if on_file is not None:
            on_file(result)
    return written
