"""The mart SQL files, run in DuckDB on a small hand-made slice of the lake.

Expected values are computed here in plain Python straight from the mart definitions (or written
by hand), never by running the SQL again. Each mart runs on one day at a time, as the warehouse
does: the view ``events`` holds that day's rows only.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from platform_assets.engines.dialect import duckdb_prelude
from platform_assets.sql import load

MARTS = ("daily_traffic", "sessions", "user_activity", "funnel")
DAY1 = date(2024, 3, 9)
DAY2 = date(2024, 3, 10)
DAYS = (DAY1, DAY2)

# The hand-made lake slice, one event per line; an empty field is NULL. The other lake columns
# (ip, method, protocol, user agent, ...) are derived in `_lake_row`. What each session is for:
#   s1  u1, full funnel with an accepted purchase; entry is a tie on ts won by the lower line
#   s2  anonymous, NULL country, NULL latency, cart without product (funnel stops at visit),
#       a 404; entry is a tie on ts won by the lower file name (a.log:9 before b.log:1)
#   s3  a bot (excluded from the funnel)
#   s4  u2, reaches checkout, purchase answered 500: a server error and NOT a conversion
#   s5  u1 again, crosses midnight: product on day 1, cart/checkout/purchase on day 2
#   s6  anonymous tablet, entry is an api call, tie on ts inside the session
#   s7  anonymous, only a static file and an api call: no page view, so not even a visit
#   s8/s9  u3 starts two sessions at the same ts on two devices: first event is b.log:12
#       (file before line), although c.log:9 has the lower line and s8 goes on later
FIXTURE = Path(__file__).parent / "fixtures" / "lake_events.csv"
_TYPES = {"status": int, "bytes": int, "latency_ms": float, "source_line": int}


def _parse(lines) -> list[dict]:
    """CSV lines (header first) as events: typed values, ts parsed, event_date derived."""
    events = []
    for record in csv.DictReader(lines):
        event = {k: (_TYPES.get(k, str)(v) if v != "" else None) for k, v in record.items()}
        event["ts"] = datetime.fromisoformat(event["ts"])
        event["event_date"] = event["ts"].date()
        events.append(event)
    return events


EVENTS = _parse(FIXTURE.read_text("utf-8").splitlines())

LAKE_DDL = """
CREATE TABLE lake (
    ts TIMESTAMP, event_date DATE, ip VARCHAR, user_id VARCHAR, visitor_id VARCHAR,
    session_id VARCHAR, method VARCHAR, path VARCHAR, query_string VARCHAR, protocol VARCHAR,
    status INTEGER, bytes BIGINT, latency_ms DOUBLE, referrer VARCHAR, user_agent VARCHAR,
    device VARCHAR, country VARCHAR, event_type VARCHAR, log_format VARCHAR,
    source_file VARCHAR, source_line BIGINT
)
"""
_AGENTS = {
    "desktop": "Mozilla/5.0 (X11; Linux x86_64) Firefox/124.0",
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile Safari",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 17_0) Safari",
    "bot": "Googlebot/2.1 (+http://www.google.com/bot.html)",
}


def _lake_row(event: dict) -> tuple:
    """All 21 lake columns, in LAKE_DDL order."""
    posts = {"cart", "checkout", "purchase"}
    return (
        event["ts"],
        event["event_date"],
        f"10.0.0.{sum(map(ord, event['visitor_id'])) % 250}",
        event["user_id"],
        event["visitor_id"],
        event["session_id"],
        "POST" if event["event_type"] in posts else "GET",
        event["path"],
        "q=shoes" if event["event_type"] == "search" else None,
        "HTTP/1.1",
        event["status"],
        event["bytes"],
        event["latency_ms"],
        event["referrer"],
        _AGENTS[event["device"]],
        event["device"],
        event["country"],
        event["event_type"],
        "combined" if event["latency_ms"] is None else "json",
        event["source_file"],
        event["source_line"],
    )


def _connect(events: list[dict]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for statement in duckdb_prelude():
        con.execute(statement)
    con.execute(LAKE_DDL)
    con.executemany(
        f"INSERT INTO lake VALUES ({', '.join(['?'] * 21)})",
        [_lake_row(event) for event in events],
    )
    return con


def _execute(con: duckdb.DuckDBPyConnection, mart: str, day: date) -> duckdb.DuckDBPyConnection:
    """Point the view ``events`` at one day of the lake and run the mart."""
    con.execute(f"CREATE OR REPLACE VIEW events AS SELECT * FROM lake WHERE event_date = '{day}'")
    return con.execute(load(f"marts/{mart}").sql)


def _run(con: duckdb.DuckDBPyConnection, mart: str, day: date) -> list[dict]:
    """The mart's rows for one day, with Python values (None for NULL)."""
    cursor = _execute(con, mart, day)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


@pytest.fixture(scope="module")
def con():
    connection = _connect(EVENTS)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def results(con) -> dict[tuple[str, date], list[dict]]:
    return {(mart, day): _run(con, mart, day) for mart in MARTS for day in DAYS}


def _day_events(day: date) -> list[dict]:
    return [e for e in EVENTS if e["event_date"] == day]


def _first(events: list[dict]) -> dict:
    """The first event by (ts, source_file, source_line)."""
    return min(events, key=lambda e: (e["ts"], e["source_file"], e["source_line"]))


def _percentile(values: list[float], q: float) -> float | None:
    """Continuous percentile with linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _max_or_none(values) -> str | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _assert_same_rows(actual: list[dict], expected: list[dict], grain: tuple[str, ...]) -> None:
    """Same rows by grain; exact for everything but floats, which get a tolerance."""
    actual_by_key = {tuple(r[c] for c in grain): r for r in actual}
    expected_by_key = {tuple(r[c] for c in grain): r for r in expected}
    assert sorted(actual_by_key, key=str) == sorted(expected_by_key, key=str)
    for key, want in expected_by_key.items():
        got = actual_by_key[key]
        assert set(got) == set(want), key
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, abs=1e-9), (key, column)
            else:
                assert got[column] == value, (key, column)
                assert type(got[column]) is type(value), (key, column)


# --- headers and generic properties -------------------------------------------------------------


@pytest.mark.parametrize("mart", MARTS)
def test_header_loads(mart):
    definition = load(f"marts/{mart}")
    assert definition.name == mart
    assert definition.description
    assert definition.inputs == {"events": "lake/events"}
    assert definition.partition_column == "event_date"
    assert definition.grain[0] == "event_date"
    assert set(definition.grain) <= set(definition.columns)
    assert all(text.strip() for text in definition.columns.values())
    assert definition.sql.lstrip().upper().startswith(("WITH", "SELECT"))


@pytest.mark.parametrize("mart", MARTS)
def test_every_output_column_is_described(con, mart):
    output = [d[0] for d in _execute(con, mart, DAY1).description]
    assert len(output) == len(set(output))
    assert set(output) == set(load(f"marts/{mart}").columns)


@pytest.mark.parametrize("day", DAYS)
@pytest.mark.parametrize("mart", MARTS)
def test_grain_is_unique_and_not_null(results, mart, day):
    grain = load(f"marts/{mart}").grain
    rows = results[(mart, day)]
    assert rows
    keys = [tuple(r[c] for c in grain) for r in rows]
    assert all(v is not None for key in keys for v in key)
    assert len(keys) == len(set(keys))
    assert {r["event_date"] for r in rows} == {day}


# Constructs DuckDB accepts but Spark SQL does not (or means differently).
_DUCKDB_ONLY = {
    "cast with ::": r"::",
    "aggregate FILTER": r"\bFILTER\s*\(",
    "GROUP BY ALL": r"\bGROUP\s+BY\s+ALL\b",
    "ORDER BY ALL": r"\bORDER\s+BY\s+ALL\b",
    "arg_min/arg_max": r"\barg_(min|max)\b",
    "count_if": r"\bcount_if\b",
    "list functions": r"\blist(_\w+)?\s*\(",
    "struct / list literal": r"[{}\[\]]",
    "QUALIFY": r"\bQUALIFY\b",
    "SELECT * EXCLUDE": r"\bEXCLUDE\s*\(",
    "epoch_ms (use epoch_millis)": r"\bepoch_ms\b",
    "isodow (use iso_dow)": r"\bisodow\b",
}


@pytest.mark.parametrize("mart", MARTS)
def test_sql_avoids_duckdb_only_syntax(mart):
    body = re.sub(r"--[^\n]*", "", load(f"marts/{mart}").sql)
    found = [name for name, pattern in _DUCKDB_ONLY.items() if re.search(pattern, body, re.IGNORECASE)]
    assert not found


# --- daily_traffic ------------------------------------------------------------------------------


def _expected_daily_traffic(day: date) -> list[dict]:
    groups = defaultdict(list)
    for e in _day_events(day):
        groups[(e["event_date"], e["path"], e["country"] or "unknown", e["device"])].append(e)
    expected = []
    for (event_date, path, country, device), events in groups.items():
        errors = sum(e["status"] >= 400 for e in events)
        latencies = [e["latency_ms"] for e in events if e["latency_ms"] is not None]
        expected.append(
            {
                "event_date": event_date,
                "path": path,
                "country": country,
                "device": device,
                "requests": len(events),
                "distinct_visitors": len({e["visitor_id"] for e in events}),
                "errors": errors,
                "error_rate": errors / len(events),
                "server_errors": sum(e["status"] >= 500 for e in events),
                "p50_latency_ms": _percentile(latencies, 0.5),
                "p95_latency_ms": _percentile(latencies, 0.95),
                "bytes": sum(e["bytes"] for e in events),
            }
        )
    return expected


@pytest.mark.parametrize("day", DAYS)
def test_daily_traffic_matches_definition(results, day):
    grain = load("marts/daily_traffic").grain
    _assert_same_rows(results[("daily_traffic", day)], _expected_daily_traffic(day), grain)


def test_daily_traffic_hand_checked_rows(results):
    rows = {(r["path"], r["country"], r["device"]): r for r in results[("daily_traffic", DAY1)]}
    assert len(rows) == 15
    home = rows[("/", "US", "desktop")]  # s1 10:00 and s5 23:58, latencies 10 and 12
    assert (home["requests"], home["distinct_visitors"], home["bytes"]) == (2, 1, 2000)
    assert home["p50_latency_ms"] == pytest.approx(11.0)
    assert home["p95_latency_ms"] == pytest.approx(11.9)
    failed = rows[("/purchase", "GB", "desktop")]  # the 500
    assert (failed["errors"], failed["server_errors"], failed["error_rate"]) == (1, 1, 1.0)
    assert failed["p50_latency_ms"] == pytest.approx(900.0)
    missing = rows[("/missing", "unknown", "mobile")]  # the 404, NULL country and latency
    assert (missing["errors"], missing["server_errors"], missing["bytes"]) == (1, 0, 0)
    assert missing["p50_latency_ms"] is None and missing["p95_latency_ms"] is None
    assert rows[("/product/42", "DE", "bot")]["requests"] == 1  # bots are traffic too
    assert sum(r["errors"] for r in rows.values()) == 2


@pytest.mark.parametrize("day", DAYS)
def test_error_rate_is_a_fraction(results, day):
    for row in results[("daily_traffic", day)]:
        assert 0.0 <= row["error_rate"] <= 1.0
        assert row["server_errors"] <= row["errors"] <= row["requests"]


# --- sessions -----------------------------------------------------------------------------------


def _expected_sessions(day: date) -> list[dict]:
    groups = defaultdict(list)
    for e in _day_events(day):
        groups[(e["event_date"], e["session_id"])].append(e)
    expected = []
    for (event_date, session_id), events in groups.items():
        entry = _first(events)
        start, end = min(e["ts"] for e in events), max(e["ts"] for e in events)
        types = [e["event_type"] for e in events]
        expected.append(
            {
                "event_date": event_date,
                "session_id": session_id,
                "visitor_id": entry["visitor_id"],
                "user_id": _max_or_none(e["user_id"] for e in events),
                "session_start": start,
                "session_end": end,
                "duration_s": (end - start).total_seconds(),
                "events": len(events),
                "page_views": sum(t not in ("static", "api") for t in types),
                "product_views": types.count("product"),
                "cart_events": types.count("cart"),
                "checkout_events": types.count("checkout"),
                "converted": any(e["event_type"] == "purchase" and e["status"] < 400 for e in events),
                "entry_path": entry["path"],
                "entry_event_type": entry["event_type"],
                "referrer": entry["referrer"],
                "device": entry["device"],
                "country": entry["country"] or "unknown",
                "is_bot": entry["device"] == "bot",
                "errors": sum(e["status"] >= 400 for e in events),
            }
        )
    return expected


@pytest.mark.parametrize("day", DAYS)
def test_sessions_match_definition(results, day):
    grain = load("marts/sessions").grain
    _assert_same_rows(results[("sessions", day)], _expected_sessions(day), grain)


def test_sessions_hand_checked_rows(results):
    day1 = {r["session_id"]: r for r in results[("sessions", DAY1)]}
    day2 = {r["session_id"]: r for r in results[("sessions", DAY2)]}
    assert sorted(day1) == ["s1", "s2", "s3", "s4", "s5"]
    assert sorted(day2) == ["s5", "s6", "s7", "s8", "s9"]
    # s1: tie at 10:00:00 in a.log, line 2 (landing) beats line 3 (static)
    s1 = day1["s1"]
    assert (s1["entry_path"], s1["entry_event_type"]) == ("/", "landing")
    assert s1["referrer"] == "https://google.com/"
    assert (s1["events"], s1["page_views"], s1["converted"]) == (6, 5, True)
    assert s1["duration_s"] == pytest.approx(240.25)
    # s2: tie at 11:00:00, a.log:9 (search) beats b.log:1 (cart); anonymous, NULL country
    s2 = day1["s2"]
    assert (s2["entry_path"], s2["entry_event_type"]) == ("/search", "search")
    assert (s2["user_id"], s2["country"], s2["errors"]) == (None, "unknown", 1)
    assert (s2["product_views"], s2["cart_events"], s2["converted"]) == (0, 1, False)
    assert day1["s3"]["is_bot"] is True and day1["s3"]["device"] == "bot"
    # s4: the purchase was answered 500, so no conversion
    assert (day1["s4"]["checkout_events"], day1["s4"]["converted"]) == (1, False)
    # s5 crosses midnight: one row per day, each from that day's events
    assert (day1["s5"]["events"], day1["s5"]["converted"]) == (2, False)
    assert day1["s5"]["duration_s"] == pytest.approx(90.0)
    assert (day2["s5"]["events"], day2["s5"]["converted"]) == (3, True)
    assert day2["s5"]["session_start"] == datetime(2024, 3, 10, 0, 1)
    assert day2["s5"]["entry_event_type"] == "cart"
    # s6: entry is the api call; s7: a static file then an api call 5 s later, no page view
    assert (day2["s6"]["entry_event_type"], day2["s6"]["page_views"]) == ("api", 1)
    assert (day2["s7"]["events"], day2["s7"]["page_views"], day2["s7"]["duration_s"]) == (2, 0, 5.0)


# --- user_activity ------------------------------------------------------------------------------


def _expected_user_activity(day: date) -> list[dict]:
    groups = defaultdict(list)
    for e in _day_events(day):
        groups[(e["event_date"], e["visitor_id"])].append(e)
    expected = []
    for (event_date, visitor_id), events in groups.items():
        first = _first(events)
        expected.append(
            {
                "event_date": event_date,
                "visitor_id": visitor_id,
                "user_id": _max_or_none(e["user_id"] for e in events),
                "sessions": len({e["session_id"] for e in events}),
                "events": len(events),
                "page_views": sum(e["event_type"] not in ("static", "api") for e in events),
                "purchases": sum(e["event_type"] == "purchase" and e["status"] < 400 for e in events),
                "bytes": sum(e["bytes"] for e in events),
                "first_seen": min(e["ts"] for e in events),
                "last_seen": max(e["ts"] for e in events),
                "device": first["device"],
                "country": first["country"] or "unknown",
                "is_bot": first["device"] == "bot",
            }
        )
    return expected


@pytest.mark.parametrize("day", DAYS)
def test_user_activity_matches_definition(results, day):
    grain = load("marts/user_activity").grain
    _assert_same_rows(results[("user_activity", day)], _expected_user_activity(day), grain)


def test_user_activity_hand_checked_rows(results):
    day1 = {r["visitor_id"]: r for r in results[("user_activity", DAY1)]}
    day2 = {r["visitor_id"]: r for r in results[("user_activity", DAY2)]}
    assert sorted(day1) == ["anon-1", "anon-bot", "u1", "u2"]
    u1 = day1["u1"]  # s1 and the day-1 half of s5
    assert (u1["sessions"], u1["events"], u1["page_views"], u1["purchases"]) == (2, 8, 7, 1)
    assert u1["bytes"] == 7800
    assert (u1["first_seen"], u1["last_seen"]) == (
        datetime(2024, 3, 9, 10, 0),
        datetime(2024, 3, 9, 23, 59, 30),
    )
    assert (day1["u2"]["purchases"], day1["anon-1"]["user_id"]) == (0, None)
    assert (day1["anon-1"]["country"], day1["anon-bot"]["is_bot"]) == ("unknown", True)
    # u3: two sessions start at 12:00:00; b.log:12 (desktop, BE) is the first event
    u3 = day2["u3"]
    assert (u3["sessions"], u3["events"], u3["bytes"]) == (2, 3, 2700)
    assert (u3["device"], u3["country"], u3["is_bot"]) == ("desktop", "BE", False)
    assert u3["last_seen"] == datetime(2024, 3, 10, 12, 1)


# --- funnel -------------------------------------------------------------------------------------

# Day 1: non-bot sessions s1, s2, s4, s5 all visit; s2 has a cart but no product; s5 (day-1
# half) stops at product; s4's purchase failed (500). Day 2: s5 (cart/checkout/purchase but no
# product that day), s6 (product), s8, s9 visit; s7 has only static and api events.
FUNNEL_BY_HAND = {
    DAY1: [
        (1, "visit", 4, 1.0, 1.0),
        (2, "product", 3, 0.75, 0.75),
        (3, "cart", 2, 2 / 3, 0.5),
        (4, "checkout", 2, 1.0, 0.5),
        (5, "purchase", 1, 0.5, 0.25),
    ],
    DAY2: [
        (1, "visit", 4, 1.0, 1.0),
        (2, "product", 1, 0.25, 0.25),
        (3, "cart", 0, 0.0, 0.0),
        (4, "checkout", 0, None, 0.0),
        (5, "purchase", 0, None, 0.0),
    ],
}
_FUNNEL_COLUMNS = ("step_order", "step", "sessions", "rate_from_previous", "rate_from_start")


@pytest.mark.parametrize("day", DAYS)
def test_funnel_hand_checked(results, day):
    expected = [
        {"event_date": day, **dict(zip(_FUNNEL_COLUMNS, row, strict=True))} for row in FUNNEL_BY_HAND[day]
    ]
    _assert_same_rows(results[("funnel", day)], expected, ("event_date", "step"))


@pytest.mark.parametrize("day", DAYS)
def test_funnel_has_five_non_increasing_steps(results, day):
    rows = sorted(results[("funnel", day)], key=lambda r: r["step_order"])
    assert [r["step"] for r in rows] == ["visit", "product", "cart", "checkout", "purchase"]
    assert [r["step_order"] for r in rows] == [1, 2, 3, 4, 5]
    counts = [r["sessions"] for r in rows]
    assert counts == sorted(counts, reverse=True)
    for row in rows:
        for rate in (row["rate_from_previous"], row["rate_from_start"]):
            assert rate is None or 0.0 <= rate <= 1.0


def test_funnel_day_without_human_sessions_has_null_rates():
    header = FIXTURE.read_text("utf-8").splitlines()[0]
    bot_only = _parse(
        [
            header,
            "2024-03-11 08:00:00,b1,anon-bot,,bot,DE,product,/product/1,200,900,4.0,,d.log,1",
            "2024-03-11 08:00:05,b1,anon-bot,,bot,DE,cart,/cart,200,300,4.0,,d.log,2",
        ]
    )
    connection = _connect(bot_only)
    try:
        rows = _run(connection, "funnel", date(2024, 3, 11))
    finally:
        connection.close()
    assert sorted((r["step_order"], r["sessions"]) for r in rows) == [(k, 0) for k in range(1, 6)]
    assert all(r["rate_from_previous"] is None and r["rate_from_start"] is None for r in rows)
