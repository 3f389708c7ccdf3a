"""``sql/features/session_features.sql`` on hand-made sessions, run by DuckDB."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest

from platform_assets.engines.dialect import duckdb_prelude
from platform_assets.sql import load

DAY = date(2026, 3, 10)  # a Tuesday
SESSIONS_SCHEMA = """
    event_date DATE, session_id VARCHAR, visitor_id VARCHAR, user_id VARCHAR,
    session_start TIMESTAMP, session_end TIMESTAMP, duration_s DOUBLE, events BIGINT,
    page_views BIGINT, product_views BIGINT, cart_events BIGINT, checkout_events BIGINT,
    converted BOOLEAN, entry_path VARCHAR, entry_event_type VARCHAR, referrer VARCHAR,
    device VARCHAR, country VARCHAR, is_bot BOOLEAN, errors BIGINT
"""
SESSION_COLUMNS = [line.split()[0] for line in SESSIONS_SCHEMA.replace("\n", " ").split(", ")]


def session(
    session_id: str,
    start: datetime,
    minutes: float = 10,
    visitor_id: str = "anon-v1",  # the lake names anonymous visitors anon-<hash>
    **overrides: Any,
) -> dict[str, Any]:
    """One row of the ``sessions`` mart, with plain defaults."""
    end = start + timedelta(minutes=minutes)
    row = {
        "event_date": start.date(),
        "session_id": session_id,
        "visitor_id": visitor_id,
        "user_id": None,
        "session_start": start,
        "session_end": end,
        "duration_s": (end - start).total_seconds(),
        "events": 3,
        "page_views": 2,
        "product_views": 0,
        "cart_events": 0,
        "checkout_events": 0,
        "converted": False,
        "entry_path": "/",
        "entry_event_type": "landing",
        "referrer": None,
        "device": "desktop",
        "country": "DE",
        "is_bot": False,
        "errors": 0,
    }
    unknown = set(overrides) - set(row)
    assert not unknown, unknown
    row.update(overrides)
    return row


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A timestamp ``day_offset`` days after DAY."""
    return datetime.combine(DAY + timedelta(days=day_offset), datetime.min.time()).replace(
        hour=hour, minute=minute
    )


def lake_event(session_id: str, ts: datetime, event_type: str = "page", status: int = 200) -> dict[str, Any]:
    """One lake event, with the columns the feature SQL reads from the lake."""
    return {
        "ts": ts,
        "event_date": ts.date(),
        "session_id": session_id,
        "event_type": event_type,
        "status": status,
    }


def build(
    rows: list[dict[str, Any]],
    day: date = DAY,
    history_days: int | None = 29,
    events: list[dict[str, Any]] = (),
) -> pd.DataFrame:
    """Run the feature SQL for ``day`` the way the engine does: prelude, then the three views
    (``events`` are lake events; the view shows those of the day and the next).

    ``history_days=None`` gives a history view with every session, to show that the SQL itself
    enforces the 28-day window and the ended-before rule.
    """
    con = duckdb.connect()
    for statement in duckdb_prelude():
        con.execute(statement)
    con.execute(f"CREATE TABLE sessions ({SESSIONS_SCHEMA})")
    frame = pd.DataFrame(rows, columns=SESSION_COLUMNS)  # noqa: F841 (read by DuckDB)
    con.execute("INSERT INTO sessions SELECT * FROM frame")
    con.execute(
        "CREATE TABLE lake_events (ts TIMESTAMP, event_date DATE, session_id VARCHAR, "
        "event_type VARCHAR, status INTEGER)"
    )
    lake = pd.DataFrame(list(events), columns=["ts", "event_date", "session_id", "event_type", "status"])  # noqa: F841
    con.execute("INSERT INTO lake_events SELECT * FROM lake")
    con.execute(f"CREATE VIEW target_sessions AS SELECT * FROM sessions WHERE event_date = DATE '{day}'")
    since = day - timedelta(days=history_days or 0)
    window = "TRUE" if history_days is None else f"event_date BETWEEN '{since}' AND '{day}'"
    con.execute(f"CREATE VIEW history_sessions AS SELECT * FROM sessions WHERE {window}")
    later = f"event_date BETWEEN DATE '{day}' AND DATE '{day + timedelta(days=1)}'"
    con.execute(f"CREATE VIEW later_events AS SELECT * FROM lake_events WHERE {later}")
    result = con.sql(load("features/session_features").sql).df()
    con.close()
    return result.set_index("session_id", drop=False)


def test_header_describes_every_output_column() -> None:
    definition = load("features/session_features")
    assert definition.grain == ("event_date", "session_id")
    assert definition.partition_column == "event_date"
    assert definition.inputs == {
        "target_sessions": "warehouse/sessions",
        "history_sessions": "warehouse/sessions",
        "later_events": "lake/events",
    }
    assert definition.meta["lookback_days"] == {"history_sessions": 29}
    assert definition.meta["lookahead_days"] == {"later_events": 1}
    out = build([session("t", at(0, 12))])
    assert list(out.columns) == list(definition.columns)
    assert all(definition.columns.values())


def test_sql_avoids_engine_specific_syntax() -> None:
    sql = load("features/session_features").sql
    assert "::" not in sql
    assert not re.search(r"\bFILTER\s*\(", sql, re.IGNORECASE)
    assert not re.search(r"regexp?_", sql, re.IGNORECASE)
    assert "h.session_end < t.session_start" in sql  # the no-leakage rule, spelled out


def test_prior_sessions_are_counted() -> None:
    rows = [
        session("p1", at(-1, 18), minutes=30, page_views=4, converted=True),
        session("p2", at(-5, 9), page_views=3),
        session("p3", at(-20, 22), page_views=5, converted=True),
        session("other_visitor", at(-2, 9), visitor_id="anon-v9", converted=True, page_views=50),
        session("t", at(0, 9)),
    ]
    row = build(rows).loc["t"]
    assert row.prior_sessions_28d == 3
    assert row.prior_conversions_28d == 2
    assert row.prior_page_views_28d == 4 + 3 + 5
    # latest prior session ended on DAY-1 at 18:30; the target starts on DAY at 09:00
    assert row.days_since_prior_session == pytest.approx(14.5 / 24)
    first = build(rows, day=DAY - timedelta(days=20)).loc["p3"]
    assert first.prior_sessions_28d == 0
    assert pd.isna(first.days_since_prior_session)


def test_session_still_running_at_prediction_time_is_not_counted() -> None:
    rows = [
        session("a", at(0, 10, 0), minutes=50, converted=True),  # ends 10:50
        session("b", at(0, 10, 30), minutes=30),  # starts while a runs, ends 11:00
        session("c", at(0, 11, 30)),  # after both ended
    ]
    out = build(rows, history_days=None)
    assert out.loc["a", "prior_sessions_28d"] == 0
    assert out.loc["b", "prior_sessions_28d"] == 0
    assert out.loc["b", "prior_conversions_28d"] == 0
    assert out.loc["c", "prior_sessions_28d"] == 2
    assert out.loc["c", "prior_conversions_28d"] == 1
    assert out.loc["c", "days_since_prior_session"] == pytest.approx(30 / (24 * 60))


def test_window_is_28_days() -> None:
    rows = [
        session("d28", at(-28, 0, 5), converted=True, page_views=7),
        session("d29", at(-29, 23, 0), converted=True, page_views=100),
        session("t", at(0, 8)),
    ]
    row = build(rows, history_days=None).loc["t"]
    assert row.prior_sessions_28d == 1
    assert row.prior_conversions_28d == 1
    assert row.prior_page_views_28d == 7


def test_later_events_never_change_earlier_rows() -> None:
    base = [session("p", at(-3, 12)), session("t", at(0, 9), converted=False)]
    later = [
        session("later_same_day", at(0, 15), converted=True, page_views=9),
        session("next_day", at(1, 10), converted=True),
    ]
    features = [c for c in load("features/session_features").columns if c != "label"]
    before = build(base)
    after = build(base + later, history_days=None)
    pd.testing.assert_series_equal(before.loc["t", features], after.loc["t", features])
    assert after.loc["later_same_day", "prior_sessions_28d"] == 2

    # The target's own outcome and activity reach the label only.
    converted = [base[0], session("t", at(0, 9), minutes=90, converted=True, page_views=30)]
    flipped = build(converted)
    pd.testing.assert_series_equal(before.loc["t", features], flipped.loc["t", features])
    assert (before.loc["t", "label"], flipped.loc["t", "label"]) == (0, 1)


def test_bots_are_excluded_as_targets_and_history() -> None:
    rows = [
        session("bot_prior", at(-1, 9), is_bot=True, converted=True),
        session("bot_target", at(0, 8), visitor_id="crawler", device="bot", is_bot=True),
        session("t", at(0, 9)),
    ]
    out = build(rows)
    assert list(out.index) == ["t"]
    assert out.loc["t", "prior_sessions_28d"] == 0


def test_entry_attributes() -> None:
    rows = [
        session("no_country", at(0, 23, 59), visitor_id="u1", country=None, user_id="u1", converted=True),
        session("sunday", at(5, 0, 1), device="mobile", entry_event_type="product"),
    ]
    out = pd.concat([build(rows), build(rows, day=DAY + timedelta(days=5))])
    first, sunday = out.loc["no_country"], out.loc["sunday"]
    assert (first.country, first.hour_of_day, first.day_of_week) == ("unknown", 23, 2)
    assert (first.is_logged_in, first.label) == (1, 1)
    assert (sunday.country, sunday.hour_of_day, sunday.day_of_week) == ("DE", 0, 7)
    assert (sunday.device, sunday.entry_event_type, sunday.is_logged_in) == ("mobile", "product", 0)


REFERRER_CLASSES = {
    None: "direct",
    "-": "direct",
    "https://www.google.com/search?q=shoes": "search",
    "https://www.google.co.uk/": "search",
    "http://www.bing.com/search?q=x": "search",
    "https://duckduckgo.com/": "search",
    "https://search.yahoo.com/search?p=x": "search",
    "https://www.facebook.com/": "social",
    "https://lm.facebook.com/l.php?u=x": "social",
    "https://t.co/abc123": "social",
    "https://twitter.com/someone": "social",
    "https://www.instagram.com/p/1": "social",
    "https://www.linkedin.com/feed/": "social",
    "https://old.reddit.com/r/shoes": "social",
    "https://news.example.com/?utm_source=newsletter&utm_medium=email": "campaign",
    "https://www.facebook.com/ad?utm_campaign=spring": "campaign",
    "/products/42": "internal",
    "https://example.com/": "other",
    "https://notgoogle.com/": "other",
    "https://example.com/?q=google.com": "other",
    "https://toast.co/": "other",
}


def test_referrer_classes() -> None:
    rows = [
        session(f"s{i}", at(0, 10, i), visitor_id=f"anon-v{i}", referrer=referrer)
        for i, referrer in enumerate(REFERRER_CLASSES)
    ]
    out = build(rows)
    got = {referrer: out.loc[f"s{i}", "referrer_class"] for i, referrer in enumerate(REFERRER_CLASSES)}
    assert got == REFERRER_CLASSES


def test_a_login_later_in_the_session_does_not_leak_into_is_logged_in():
    # The sessions mart fills user_id from any event of the session; a visitor who entered
    # anonymously and logged in at checkout was not logged in at prediction time.
    rows = [
        session("late_login", at(0, 12), visitor_id="anon-x", user_id="u7", converted=True),
        session("logged_in_entry", at(0, 13), visitor_id="u8", user_id="u8"),
    ]
    out = build(rows).set_index("session_id")
    assert out.loc["late_login"].is_logged_in == 0
    assert out.loc["logged_in_entry"].is_logged_in == 1


# A visit that crosses midnight, as the sessions mart gives it: a row per day, each from that day's
# events only (23:50 landing, 23:58 cart | 00:02 checkout, 00:10 purchase), and its lake events.
CROSSING = [
    session("m", at(0, 23, 50), minutes=8, page_views=2, cart_events=1),
    session(
        "m",
        at(1, 0, 2),
        minutes=8,
        page_views=2,
        converted=True,
        entry_path="/checkout",
        entry_event_type="checkout",
        checkout_events=1,
    ),
]
CROSSING_EVENTS = [
    lake_event("m", at(0, 23, 50), "landing"),
    lake_event("m", at(0, 23, 58), "cart"),
    lake_event("m", at(1, 0, 2), "checkout"),
    lake_event("m", at(1, 0, 10), "purchase"),
]


def test_a_session_crossing_midnight_is_one_row_on_its_first_day_labelled_by_the_whole_visit() -> None:
    earlier = session("p", at(-2, 12), page_views=4)  # ends DAY-2 12:10
    later = session("n", at(1, 9, 0))  # the visitor's next visit
    rows = [earlier, *CROSSING, later]
    events = [*CROSSING_EVENTS, lake_event("n", at(1, 9, 0), "landing")]

    first_day = build(rows, events=events)
    assert list(first_day.index) == ["m"]
    m = first_day.loc["m"]
    assert (m.event_date.date(), m.session_start) == (DAY, at(0, 23, 50))
    assert (m.entry_event_type, m.hour_of_day, m.label) == ("landing", 23, 1)
    assert (m.prior_sessions_28d, m.prior_conversions_28d, m.prior_page_views_28d) == (1, 0, 4)
    assert m.days_since_prior_session == pytest.approx(2 + (11 * 60 + 40) / 1440)  # not itself

    # Before the next day's events land, the purchase after midnight is not known yet.
    assert build(rows, events=CROSSING_EVENTS[:2]).loc["m", "label"] == 0

    next_day = build(rows, day=DAY + timedelta(days=1), events=events)
    assert list(next_day.index) == ["n"]  # the after-midnight part is no row of its own
    n = next_day.loc["n"]
    assert (n.prior_sessions_28d, n.prior_conversions_28d, n.prior_page_views_28d) == (2, 1, 4 + 2 + 2)
    # the latest earlier session is the whole visit, ended at 00:10 by its purchase
    assert n.days_since_prior_session == pytest.approx((9 * 60 - 10) / 1440)


def test_a_session_still_running_after_midnight_is_not_history_before_it() -> None:
    rows = [
        session("h", at(0, 23, 0), minutes=20),  # its row of DAY ends 23:20 ...
        session("h", at(1, 0, 0), minutes=20, entry_event_type="product"),  # ... it goes on to 00:20
        session("t", at(0, 23, 40), device="mobile"),  # same visitor, another session meanwhile
        session("u", at(1, 0, 30)),
    ]
    events = [lake_event("h", at(1, 0, 0), "product"), lake_event("h", at(1, 0, 20), "product")]
    t = build(rows, events=events).loc["t"]
    assert (t.prior_sessions_28d, pd.isna(t.days_since_prior_session)) == (0, True)
    u = build(rows, day=DAY + timedelta(days=1), events=events).loc["u"]
    assert u.prior_sessions_28d == 2  # h (ended 00:20) and t (ended 23:50)
    assert u.days_since_prior_session == pytest.approx(10 / 1440)


def test_features_do_not_depend_on_the_marts_split_at_midnight() -> None:
    # The same visit as one row (a mart that would not split it) gives the same feature row.
    whole = session(
        "m", at(0, 23, 50), minutes=20, page_views=4, converted=True, cart_events=1, checkout_events=1
    )
    split = build(CROSSING, events=CROSSING_EVENTS)
    unsplit = build([whole], events=CROSSING_EVENTS)
    pd.testing.assert_frame_equal(split, unsplit)
    after = session("n", at(1, 9))
    day = DAY + timedelta(days=1)
    pd.testing.assert_frame_equal(
        build([*CROSSING, after], day=day, events=CROSSING_EVENTS),
        build([whole, after], day=day, events=CROSSING_EVENTS),
    )


def test_a_session_begun_before_the_window_is_not_history_even_if_it_ends_in_it() -> None:
    rows = [
        session("old", at(-29, 23, 50), minutes=5, converted=True),
        session("old", at(-28, 0, 0), minutes=5, converted=True, entry_event_type="checkout"),
        session("t", at(0, 8)),
    ]
    assert build(rows).loc["t", "prior_sessions_28d"] == 0
