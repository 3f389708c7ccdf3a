"""Tests of the traffic log generator: formats, determinism, realism, drift, memory and CLI."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import re
import statistics
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from platform_assets.cli.commands import main
from platform_assets.lib.log_formats import JSON_EVENT_FIELDS
from platform_assets.lib.log_generator import GeneratedFile, generate_logs

START = dt.date(2026, 11, 20)
JSON_KEYS = list(JSON_EVENT_FIELDS)  # the contract the parser reads
TS_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")
# Apache/Nginx combined format plus one quoted trailing field, the request time in seconds.
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMBINED = re.compile(
    r"^(\d{1,3}(?:\.\d{1,3}){3}) - (u\d{7}|-) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] "
    r'"(GET|POST|HEAD) (/\S*) (HTTP/\d\.\d)" (\d{3}) (\d+|-) '
    rf'{_QUOTED} {_QUOTED} "(\d+\.\d{{3}})"$'
)
ALLOWED_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
    )
]
BOT_AGENTS = ("Googlebot", "bingbot", "AhrefsBot", "curl/", "python-requests/", "Bot")


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    assert data.endswith(b"\n")
    return data.decode("utf-8").split("\n")[:-1]


def parse_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    """Events and the lines that are not JSON."""
    events, bad = [], []
    for line in read_lines(path):
        try:
            events.append(json.loads(line))
        except ValueError:
            bad.append(line)
    return events, bad


def utc(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts).astimezone(dt.UTC)


def sessions_of(events: list[dict]) -> dict[str, list[dict]]:
    sessions = defaultdict(list)
    for e in events:
        sessions[e["session_id"]].append(e)
    return sessions


@pytest.fixture(scope="module")
def jsonl_run(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[GeneratedFile, list[dict], list[str]]]:
    out = tmp_path_factory.mktemp("jsonl")
    files = generate_logs(out, START, days=2, events_per_day=20_000, seed=11, malformed_rate=0.01)
    return [(f, *parse_jsonl(f.path)) for f in files]


@pytest.fixture(scope="module")
def all_events(jsonl_run) -> list[dict]:
    return [e for _, events, _ in jsonl_run for e in events]


# --- formats ------------------------------------------------------------------------------------


def test_jsonl_files_counts_and_fields(jsonl_run):
    assert [f.path.name for f, _, _ in jsonl_run] == ["access-2026-11-20.jsonl", "access-2026-11-21.jsonl"]
    for file, events, bad in jsonl_run:
        assert file.date == dt.date.fromisoformat(file.path.name[7:17])
        assert file.lines == len(read_lines(file.path)) == len(events) + len(bad)
        assert (file.events, file.malformed) == (len(events), len(bad))
        assert 18_000 <= file.lines <= 22_000
        for e in events:
            assert list(e) == JSON_KEYS
            assert TS_WITH_OFFSET.match(e["ts"]), e["ts"]
            assert type(e["status"]) is int and 100 <= e["status"] <= 599
            assert type(e["bytes"]) is int and e["bytes"] >= 0
            assert isinstance(e["latency_ms"], float) and e["latency_ms"] > 0
            assert re.fullmatch(r"s-[0-9a-f]{16}", e["session_id"])
            assert e["user_id"] is None or re.fullmatch(r"u\d{7}", e["user_id"])
            assert e["method"] in ("GET", "POST", "HEAD") and e["path"].startswith("/")
            assert e["device"] in ("desktop", "mobile", "tablet", "bot")
            assert re.fullmatch(r"[A-Z]{2}", e["country"])
            assert any(ipaddress.ip_address(e["ip"]) in n for n in ALLOWED_NETWORKS), e["ip"]
            if e["status"] in (204, 304) or e["method"] == "HEAD":
                assert e["bytes"] == 0


def test_jsonl_malformed_lines_follow_the_rate(jsonl_run):
    lines = sum(f.lines for f, _, _ in jsonl_run)
    malformed = sum(len(bad) for _, _, bad in jsonl_run)
    assert 0.005 * lines <= malformed <= 0.02 * lines
    for _, _, bad in jsonl_run:
        assert all(line.strip() for line in bad)


def test_default_malformed_rate_is_small_and_zero_means_none(tmp_path):
    (default,) = generate_logs(tmp_path / "a", START, 1, 20_000, seed=1)
    assert 0 < default.malformed < 40  # 0.0005 * 20 000 = 10 expected
    (clean,) = generate_logs(tmp_path / "b", START, 1, 3_000, seed=1, malformed_rate=0.0)
    assert clean.malformed == 0 and not parse_jsonl(clean.path)[1]


def test_combined_format_matches_an_independent_regex(tmp_path):
    files = generate_logs(tmp_path, START, 2, 4_000, fmt="combined", seed=3, malformed_rate=0.01)
    assert [f.path.name for f in files] == ["access-2026-11-20.log", "access-2026-11-21.log"]
    statuses = Counter()
    for file in files:
        lines = read_lines(file.path)
        assert file.lines == len(lines)
        matches = [COMBINED.match(line) for line in lines]
        assert sum(m is None for m in matches) == file.malformed
        assert file.events == file.lines - file.malformed
        for m in filter(None, matches):
            ip, _, when, method, _, _, status, nbytes, referrer, agent, request_time = m.groups()
            assert any(ipaddress.ip_address(ip) in n for n in ALLOWED_NETWORKS)
            assert dt.datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").utcoffset() == dt.timedelta(0)
            assert 100 <= int(status) <= 599
            statuses[status[0]] += 1
            assert (nbytes == "-") == (status in ("204", "304") or method == "HEAD")
            assert float(request_time) >= 0
            for field in (referrer, agent):
                assert '"' not in re.sub(r"\\.", "", field)  # every quote inside is escaped
    assert statuses["2"] > statuses["4"] > statuses["5"] > 0
    assert 0.005 * sum(f.lines for f in files) <= sum(f.malformed for f in files)


def test_combined_escapes_quotes_in_agents(tmp_path):
    (file,) = generate_logs(tmp_path, START, 1, 60_000, fmt="combined", seed=8, malformed_rate=0.0)
    quoted = [line for line in read_lines(file.path) if '\\"' in line]
    assert quoted, "the scanner's agent contains quotes"
    for line in quoted:
        agent = COMBINED.match(line).group(10)
        assert agent.replace('\\"', '"').count('"') == 2


def test_gzip_output_equals_plain_output(tmp_path):
    for fmt in ("jsonl", "combined"):
        plain = generate_logs(tmp_path / f"{fmt}-plain", START, 2, 2_000, fmt=fmt, seed=5)
        packed = generate_logs(tmp_path / f"{fmt}-gz", START, 2, 2_000, fmt=fmt, seed=5, gzip=True)
        for p, g in zip(plain, packed, strict=True):
            assert g.path.name == p.path.name + ".gz"
            assert gzip.decompress(g.path.read_bytes()) == p.path.read_bytes()
            assert (g.events, g.lines, g.malformed) == (p.events, p.lines, p.malformed)


def test_no_partial_files_are_left(tmp_path):
    generate_logs(tmp_path, START, 2, 1_000, seed=1, gzip=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "access-2026-11-20.jsonl.gz",
        "access-2026-11-21.jsonl.gz",
    ]


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_other_bytes(tmp_path):
    def run(name: str, seed: int) -> list[bytes]:
        files = generate_logs(tmp_path / name, START, 2, 2_000, seed=seed, drift=0.5)
        return [f.path.read_bytes() for f in files]

    first = run("a", 7)
    assert run("b", 7) == first
    assert run("c", 8)[0] != first[0]
    assert first[0] != first[1]  # days differ


# --- realism ------------------------------------------------------------------------------------


def test_funnel_narrows_and_some_sessions_purchase(all_events):
    sessions = sessions_of(all_events)
    stages = [
        lambda p: p.startswith("/product/"),
        lambda p: p.startswith("/cart"),
        lambda p: p.startswith("/checkout"),
        lambda p: p == "/checkout/complete",
    ]
    counts = [sum(any(stage(e["path"]) for e in s) for s in sessions.values()) for stage in stages]
    assert counts == sorted(counts, reverse=True), counts
    assert 0.01 <= counts[-1] / len(sessions) <= 0.15, counts


def test_bots_crawl_and_never_buy(all_events):
    sessions = sessions_of(all_events)
    bots = [s for s in sessions.values() if s[0]["device"] == "bot"]
    assert 0.03 <= len(bots) / len(sessions) <= 0.12
    for s in bots:
        assert all(e["device"] == "bot" and e["user_id"] is None for e in s)
        assert any(name in s[0]["user_agent"] for name in BOT_AGENTS), s[0]["user_agent"]
        assert not any(e["path"].startswith(("/cart", "/checkout")) for e in s)
    humans = [s for s in sessions.values() if s[0]["device"] != "bot"]
    assert not any(name in s[0]["user_agent"] for s in humans for name in BOT_AGENTS)
    assert max(map(len, bots)) > 20  # crawlers fetch many pages


def test_error_rates(all_events):
    statuses = Counter(e["status"] for e in all_events)
    n = len(all_events)
    client = sum(v for k, v in statuses.items() if 400 <= k < 500)
    server = sum(v for k, v in statuses.items() if k >= 500)
    assert 0.005 <= client / n <= 0.03, statuses
    assert 0 < server / n <= 0.01, statuses
    assert statuses[404] > statuses[403] > 0 and statuses[401] > 0


def test_traffic_follows_the_day(all_events):
    hours = Counter(utc(e["ts"]).hour for e in all_events)
    night = sum(hours[h] for h in (3, 4)) / 2
    afternoon = sum(hours[h] for h in range(13, 19)) / 6
    assert afternoon > 3 * night


def test_files_hold_late_and_cross_midnight_events(jsonl_run):
    dates = [[utc(e["ts"]).date() for e in events] for _, events, _ in jsonl_run]
    # Sessions that cross midnight end in their start day's file (few at 20k events a day).
    assert any(d.count(f.date + dt.timedelta(days=1)) for (f, _, _), d in zip(jsonl_run, dates, strict=True))
    (first, _, _), (second, second_events, _) = jsonl_run
    # Late mobile events of the previous day arrive mixed among the next day's lines.
    late = [i for i, d in enumerate(dates[1]) if d == first.date]
    assert 0.001 * len(dates[1]) <= len(late) <= 0.02 * len(dates[1])
    assert late[0] < len(dates[1]) / 2 < late[-1]
    assert {second_events[i]["device"] for i in late} == {"mobile"}
    assert dates[1].count(second.date) > 0.95 * len(dates[1])
    assert not dates[0].count(first.date - dt.timedelta(days=1))  # nothing before the first day


def test_events_are_roughly_in_time_order(jsonl_run):
    for file, events, _ in jsonl_run:
        times = [utc(e["ts"]) for e in events if utc(e["ts"]).date() >= file.date]
        assert times == sorted(times)


def test_users_return_and_keep_their_device_country_and_addresses(jsonl_run):
    by_day = [{e["user_id"] for e in events if e["user_id"]} for _, events, _ in jsonl_run]
    assert len(by_day[0] & by_day[1]) > 0.2 * len(by_day[1])
    profile = defaultdict(set)
    addresses = defaultdict(set)
    sessions = {}
    for _, events, _ in jsonl_run:
        for e in events:
            sessions[e["session_id"]] = e
            if e["user_id"]:
                profile[e["user_id"]].add((e["device"], e["country"], e["user_agent"]))
                addresses[e["user_id"]].add(e["ip"])
    assert all(len(p) == 1 for p in profile.values())
    assert max(len(a) for a in addresses.values()) <= 3
    logged_in = sum(e["user_id"] is not None for e in sessions.values()) / len(sessions)
    assert 0.5 <= logged_in <= 0.7


def test_clock_offsets_come_from_countries(all_events):
    offsets = Counter(re.search(r"(Z|[+-]\d{2}:\d{2})$", e["ts"]).group(1) for e in all_events)
    assert {"Z", "-05:00", "+01:00", "+05:30"} <= set(offsets)
    assert all(e["ts"].endswith("Z") for e in all_events if e["country"] == "GB")
    assert all(e["ts"].endswith("+01:00") for e in all_events if e["country"] == "DE")
    countries = Counter(e["country"] for e in all_events)
    assert countries.most_common(1)[0][0] == "US" and len(countries) >= 10


def test_latency_and_size_depend_on_the_request(all_events):
    def median(values):
        return statistics.median(values)

    static = [e for e in all_events if e["path"].startswith("/static/") and e["status"] == 200]
    checkout = [e for e in all_events if e["path"].startswith("/checkout") and e["status"] < 400]
    assert median(e["latency_ms"] for e in checkout) > 10 * median(e["latency_ms"] for e in static)
    pages = [e for e in all_events if e["path"].startswith("/product/") and e["status"] == 200]
    mobile = median(e["latency_ms"] for e in pages if e["device"] == "mobile")
    desktop = median(e["latency_ms"] for e in pages if e["device"] == "desktop")
    assert mobile > desktop
    assert median(e["bytes"] for e in static) > median(e["bytes"] for e in pages) > 1_000


# --- drift --------------------------------------------------------------------------------------


def _summary(events: list[dict]) -> dict[str, float]:
    sessions = [s for s in sessions_of(events).values() if s[0]["device"] != "bot"]
    return {
        "mobile": sum(s[0]["device"] == "mobile" for s in sessions) / len(sessions),
        "latency": statistics.mean(e["latency_ms"] for e in events),
        "conversion": sum(any(e["path"] == "/checkout/complete" for e in s) for s in sessions)
        / len(sessions),
        "india": sum(s[0]["country"] == "IN" for s in sessions) / len(sessions),
        "indonesia": sum(s[0]["country"] == "ID" for s in sessions) / len(sessions),
        "tiktok": sum("utm_source=tiktok" in (s[0]["referrer"] or "") for s in sessions) / len(sessions),
    }


def test_drift_shifts_the_distributions(tmp_path):
    (base,) = generate_logs(tmp_path / "base", START, 1, 30_000, seed=21)
    (drifted,) = generate_logs(tmp_path / "drift", START, 1, 30_000, seed=21, drift=1.0)
    b, d = _summary(parse_jsonl(base.path)[0]), _summary(parse_jsonl(drifted.path)[0])
    assert d["mobile"] > b["mobile"] + 0.1
    assert d["latency"] > 1.3 * b["latency"]
    assert d["conversion"] < 0.8 * b["conversion"]
    assert d["india"] > 1.5 * b["india"]
    assert d["indonesia"] > 0.03 > 0.01 > b["indonesia"]  # a new market
    assert d["tiktok"] > 3 * b["tiktok"]


def test_a_drift_schedule_keeps_earlier_days_and_a_constant_one_equals_the_scalar(tmp_path):
    def digests(files: list[GeneratedFile]) -> list[bytes]:
        return [f.path.read_bytes() for f in files]

    plain = digests(generate_logs(tmp_path / "plain", START, 4, 3_000, seed=8))
    scheduled = digests(generate_logs(tmp_path / "sched", START, 4, 3_000, seed=8, drift=[0, 0, 1.0, 1.0]))
    assert scheduled[:2] == plain[:2]  # same population, same normal days
    assert scheduled[2] != plain[2] and scheduled[3] != plain[3]
    constant = digests(generate_logs(tmp_path / "const", START, 3, 3_000, seed=8, drift=(0.7, 0.7, 0.7)))
    assert constant == digests(generate_logs(tmp_path / "scalar", START, 3, 3_000, seed=8, drift=0.7))


def _logged_in_sessions(path: Path) -> dict[str, tuple[str, str, str]]:
    """session -> (user, device, country) of the logged-in human sessions of a file."""
    sessions: dict[str, tuple[str, str, str]] = {}
    for e in parse_jsonl(path)[0]:
        if e["user_id"] and e["device"] != "bot":
            sessions.setdefault(e["session_id"], (e["user_id"], e["device"], e["country"]))
    return sessions


def test_scheduled_drift_reaches_logged_in_users_who_keep_their_device(tmp_path):
    files = generate_logs(tmp_path, START, 4, 20_000, seed=3, drift=[0.0, 0.0, 2.0, 2.0], malformed_rate=0.0)
    days = [list(_logged_in_sessions(f.path).values()) for f in files]
    normal, drifted = days[0] + days[1], days[2] + days[3]

    def mobile(sessions: list[tuple[str, str, str]]) -> float:
        return sum(device == "mobile" for _, device, _ in sessions) / len(sessions)

    # Mobile share at strength 2: (0.42 + 2 * 0.18) / (0.48 + 0.42 + 0.10 + 2 * (-0.15 + 0.18 - 0.03))
    assert mobile(normal) == pytest.approx(0.42, abs=0.06)
    assert mobile(drifted) == pytest.approx(0.78, abs=0.08)
    # ... by the same users visiting more or less often, not by users changing devices.
    seen = {user: (device, country) for user, device, country in normal}
    returning = [(user, device, country) for user, device, country in drifted if user in seen]
    assert len(returning) > 0.5 * len(drifted)
    assert all(seen[user] == (device, country) for user, device, country in returning)


# --- streaming ----------------------------------------------------------------------------------


def test_memory_does_not_grow_with_events(tmp_path):
    # tracemalloc slows allocation-heavy code ~7x, so the run is kept small: 60k events whose
    # lines take ~27 MB. Measured peak: ~1.5 MB here, ~3 MB for 200k events in one day.
    bound = 10_000_000
    tracemalloc.start()
    try:
        files = generate_logs(tmp_path, START, 2, 30_000, seed=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(f.path.stat().st_size for f in files) > 2 * bound  # holding the lines would not fit
    assert peak < bound, f"peak traced memory {peak / 1e6:.1f} MB"


# --- API and CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_date": "2026-02-30"},
        {"days": 0},
        {"events_per_day": 0},
        {"fmt": "csv"},
        {"drift": 2.5},
        {"days": 2, "drift": [0.0, 2.5]},
        {"days": 2, "drift": [0.0, 1.0, 1.0]},
        {"drift": "1"},
        {"malformed_rate": -0.1},
        {"seed": -1},
    ],
)
def test_api_rejects_bad_arguments(tmp_path, kwargs):
    args = {"start_date": START, "days": 1, "events_per_day": 10} | kwargs
    with pytest.raises(ValueError):
        generate_logs(tmp_path, **args)


def test_cli_writes_the_files(tmp_path, capsys):
    out = tmp_path / "logs"
    argv = ["generate-logs", "--out", str(out), "--start-date", "2026-11-20", "--days", "2"]
    argv += ["--events-per-day", "500", "--format", "combined", "--seed", "3", "--gzip", "--drift"]
    assert main(argv) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["access-2026-11-20.log.gz", "access-2026-11-21.log.gz"]
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and printed[-1].startswith("total")
    for name, line in zip(names, printed, strict=False):
        assert name in line
        events = int(re.search(r"(\d+) events", line).group(1))
        lines = read_lines(out / name)
        assert events == sum(bool(COMBINED.match(x)) for x in lines)


def test_cli_drift_strength_and_defaults(tmp_path):
    assert main(["generate-logs", "--out", str(tmp_path / "a"), "--start-date", "2026-01-31"]) == 0
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["access-2026-01-31.jsonl"]
    argv = ["generate-logs", "--out", str(tmp_path / "b"), "--start-date", "2026-01-31", "--drift", "0.5"]
    assert main([*argv, "--events-per-day", "200", "--malformed-rate", "0"]) == 0


@pytest.mark.parametrize(
    "extra",
    [
        ["--start-date", "20-11-2026"],
        ["--start-date", "2026-11-31"],
        ["--days", "0"],
        ["--events-per-day", "0"],
        ["--events-per-day", "many"],
        ["--format", "xml"],
        ["--drift", "3"],
        ["--malformed-rate", "1.5"],
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, extra):
    argv = ["generate-logs", "--out", str(tmp_path), "--start-date", "2026-11-20", *extra]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert not list(tmp_path.iterdir())


def test_cli_requires_a_command():
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
