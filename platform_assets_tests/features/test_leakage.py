"""The leakage recomputation (``layers/features/leakage.py``) on hand-made lake events and feature
rows: the rows the features must give pass; the rows the old per-day split gave fail."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from platform_assets.layers.features.leakage import EVENT_COLUMNS, event_window, leaking_rows

DAY = date(2026, 3, 10)
NEXT = DAY + timedelta(days=1)


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY + timedelta(days=day_offset), datetime.min.time()).replace(
        hour=hour, minute=minute
    )


def events() -> pd.DataFrame:
    """Visitor v1: p (DAY-2 12:00-12:10), m (DAY 23:50 landing .. DAY+1 00:10 purchase), n (DAY+1
    09:00); a bot session on DAY."""
    rows = [
        ("p", "v1", at(-2, 12, 0), "landing", 200, "desktop"),
        ("p", "v1", at(-2, 12, 10), "product", 200, "desktop"),
        ("m", "v1", at(0, 23, 50), "landing", 200, "desktop"),
        ("m", "v1", at(0, 23, 58), "cart", 200, "desktop"),
        ("m", "v1", at(1, 0, 2), "checkout", 200, "desktop"),
        ("m", "v1", at(1, 0, 10), "purchase", 200, "desktop"),
        ("n", "v1", at(1, 9, 0), "landing", 200, "desktop"),
        ("b", "crawler", at(0, 10, 0), "landing", 200, "bot"),
    ]
    frame = pd.DataFrame(
        [
            {"session_id": s, "visitor_id": v, "ts": ts, "event_type": t, "status": st, "device": d}
            for s, v, ts, t, st, d in rows
        ]
    )
    frame["source_file"], frame["source_line"] = "a.jsonl", range(1, len(frame) + 1)
    return frame[list(EVENT_COLUMNS)]


def feature(session_id: str, day: date, start: datetime, entry: str, label: int, prior: tuple) -> dict:
    """A feature row; ``prior`` = (sessions, conversions, page views, latest end or None)."""
    sessions, conversions, page_views, latest_end = prior
    return {
        "event_date": pd.Timestamp(day),
        "session_id": session_id,
        "visitor_id": "v1",
        "session_start": start,
        "entry_event_type": entry,
        "hour_of_day": start.hour,
        "prior_sessions_28d": sessions,
        "prior_conversions_28d": conversions,
        "prior_page_views_28d": page_views,
        "days_since_prior_session": None if latest_end is None else (start - latest_end) / timedelta(days=1),
        "label": label,
    }


def frame(*rows: dict) -> pd.DataFrame:
    out = pd.DataFrame(list(rows))
    out["session_start"] = pd.to_datetime(out["session_start"])
    out["days_since_prior_session"] = out["days_since_prior_session"].astype(float)
    return out


# What the features must be, by hand: m on DAY with its 23:50 entry and its 00:10 purchase; n on
# DAY+1 with p and the whole of m (ended 00:10) as history.
M = feature("m", DAY, at(0, 23, 50), "landing", 1, (1, 0, 2, at(-2, 12, 10)))
N = feature("n", NEXT, at(1, 9), "landing", 0, (2, 1, 2 + 4, at(1, 0, 10)))


def problems(rows: pd.DataFrame, day: date) -> dict[str, str]:
    return dict(zip(*leaking_rows(rows, events(), day)[["session_id", "problem"]].T.values, strict=True))


def test_the_window_reads_the_history_the_day_before_it_and_the_next_day() -> None:
    assert event_window(DAY) == (DAY - timedelta(days=29), NEXT)


def test_whole_session_rows_pass() -> None:
    assert problems(frame(M), DAY) == {}
    assert problems(frame(N), NEXT) == {}


def test_the_old_per_day_rows_fail() -> None:
    # DAY: the before-midnight part, labelled 0 because the purchase came after midnight.
    assert problems(frame({**M, "label": 0}), DAY) == {"m": "label is not the whole session's conversion"}
    # DAY+1: the after-midnight part as a session of its own (entry at checkout, its own first half
    # as history, ended 23:58), and n counting the two parts as two earlier sessions.
    half = feature("m", NEXT, at(1, 0, 2), "checkout", 1, (2, 0, 2 + 2, at(0, 23, 58)))
    old_n = feature("n", NEXT, at(1, 9), "landing", 0, (3, 1, 2 + 2 + 2, at(1, 0, 10)))
    found = problems(frame(half, old_n), NEXT)
    assert set(found) == {"m", "n"}
    for expected in (
        "not the session's first day",
        "session_start is not the first event",
        "entry is not the first event",
        "history counts sessions not ended at the start",
    ):
        assert expected in found["m"]
    assert found["n"] == "history counts sessions not ended at the start"


def test_a_missing_row_and_a_wrong_gap_fail_and_bots_need_none() -> None:
    assert problems(frame(N).iloc[:0], DAY) == {"m": "a session begun that day has no feature row"}
    late = {**N, "days_since_prior_session": N["days_since_prior_session"] + 0.001}
    assert problems(frame(late), NEXT) == {
        "n": "days_since_prior_session is not from the latest ended session"
    }
