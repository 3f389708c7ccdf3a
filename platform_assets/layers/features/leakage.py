"""What a day's feature rows must be, recomputed from the raw lake events in pandas, apart from the
feature SQL (no mart, no SQL join): the check ``no_label_leakage`` compares the two.

A session is all lake events with its id, whichever days they fall on. Its first event (by ts,
source file and line, the tie-break the marts use) gives its start, visitor, entry type and bot
flag; its last event its end; it converted when any of its purchases was answered below 400. A
feature row of day D must be a session that began on D, with that entry and that label; its
history may count only the visitor's non-bot sessions begun in the 28 days before D or on D that
had ENDED before it started.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

# The feature table's contract (sql/features/session_features.sql, its header): a history window
# of 28 days before the target's day, and sessions seen up to the end of the day after their start.
HISTORY_DAYS = 28
LOOKAHEAD_DAYS = 1
# Lake columns the recomputation reads.
EVENT_COLUMNS = (
    "ts",
    "session_id",
    "visitor_id",
    "event_type",
    "status",
    "device",
    "source_file",
    "source_line",
)


def event_window(day: dt.date) -> tuple[dt.date, dt.date]:
    """The lake days to read for the feature rows of ``day``: the history window, the day before it
    (to tell a session begun before the window from one begun in it) and the lookahead."""
    return day - dt.timedelta(days=HISTORY_DAYS + 1), day + dt.timedelta(days=LOOKAHEAD_DAYS)


def whole_sessions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per session id of ``events`` (index session_id): start, end, visitor_id,
    entry_event_type, is_bot, converted (bool), page_views."""
    ordered = events.sort_values(["ts", "source_file", "source_line"], kind="stable")
    by_session = ordered.groupby("session_id", sort=True)
    entry = ordered.drop_duplicates("session_id", keep="first").set_index("session_id").sort_index()
    accepted_purchase = (ordered["event_type"] == "purchase") & (ordered["status"] < 400)
    page_view = ~ordered["event_type"].isin(["static", "api"])
    return pd.DataFrame(
        {
            "start": entry["ts"],
            "end": by_session["ts"].max(),
            "visitor_id": entry["visitor_id"],
            "entry_event_type": entry["event_type"].fillna("unknown"),
            "is_bot": entry["device"].eq("bot"),
            "converted": accepted_purchase.groupby(ordered["session_id"]).any(),
            "page_views": page_view.groupby(ordered["session_id"]).sum(),
        }
    )


def leaking_rows(features: pd.DataFrame, events: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The feature rows of ``day`` (and the day's sessions without one) that disagree with the
    whole sessions of ``events`` (the lake days of :func:`event_window`), one row each with its
    ``problem``; empty when every row is what was knowable at its session's start."""
    sessions = whole_sessions(events)
    humans = sessions[~sessions["is_bot"]]
    started = humans["start"].dt.date
    problems: dict[str, list[str]] = {}

    def flag(index: pd.Index, where: pd.Series | np.ndarray, problem: str) -> None:
        """Record ``problem`` for the session ids of ``index`` where ``where`` holds."""
        for session_id in index[np.asarray(where, dtype=bool)]:
            problems.setdefault(session_id, []).append(problem)

    rows = features.set_index("session_id")
    known = rows.index.intersection(sessions.index)
    unknown = rows.index.difference(sessions.index)
    flag(unknown, np.ones(len(unknown)), "no such session in the lake events")
    own, mine = sessions.loc[known], rows.loc[known]
    flag(known, own["start"].dt.date != day, "not the session's first day (a later part of it)")
    flag(known, mine["session_start"] != own["start"], "session_start is not the first event")
    flag(known, mine["entry_event_type"] != own["entry_event_type"], "entry is not the first event")
    flag(known, mine["visitor_id"] != own["visitor_id"], "visitor is not the first event's")
    flag(known, own["is_bot"], "a bot session")
    flag(known, mine["label"] != own["converted"].astype(int), "label is not the whole session's conversion")
    flag(rows.index, rows["hour_of_day"] != rows["session_start"].dt.hour, "hour_of_day is not the start's")
    missing = humans.index[(started == day).to_numpy()].difference(rows.index)
    flag(missing, np.ones(len(missing)), "a session begun that day has no feature row")

    # The visitor's history: non-bot sessions begun in the window that ended before the start.
    first_day = day - dt.timedelta(days=HISTORY_DAYS)
    window = humans[(started >= first_day) & (started <= day)]
    pairs = rows.reset_index()[["session_id", "visitor_id", "session_start"]].merge(
        window[["visitor_id", "end", "converted", "page_views"]], on="visitor_id"
    )
    pairs = pairs[pairs["end"] < pairs["session_start"]]
    ended = pairs.groupby("session_id").agg(
        ended=("end", "size"),
        conversions=("converted", "sum"),
        page_views=("page_views", "sum"),
        latest_end=("end", "max"),
    )
    ended = ended.reindex(rows.index)
    counts = ["ended", "conversions", "page_views"]
    ended[counts] = ended[counts].fillna(0)
    prior = rows["prior_sessions_28d"]
    flag(rows.index, prior > ended["ended"], "history counts sessions not ended at the start")
    flag(rows.index, prior < ended["ended"], "history misses sessions ended before the start")
    flag(rows.index, rows["prior_conversions_28d"] != ended["conversions"], "prior_conversions_28d differs")
    flag(rows.index, rows["prior_page_views_28d"] > ended["page_views"], "page views of unended sessions")
    since = rows["days_since_prior_session"]
    expected_days = (rows["session_start"] - ended["latest_end"]) / np.timedelta64(1, "D")
    differs = since.isna() != expected_days.isna()
    differs |= ((since - expected_days).abs() * 86_400_000 > 1).fillna(False)  # whole milliseconds
    flag(rows.index, differs, "days_since_prior_session is not from the latest ended session")

    if not problems:
        return pd.DataFrame(columns=["session_id", "problem"])
    offending = pd.Index(sorted(problems), name="session_id")
    report = pd.DataFrame(
        {
            "session_start": rows["session_start"].reindex(offending),
            "first_event": sessions["start"].reindex(offending),
            "label": rows["label"].reindex(offending),
            "converted": sessions["converted"].reindex(offending),
            "prior_sessions_28d": rows["prior_sessions_28d"].reindex(offending),
            "ended_before": ended["ended"].reindex(offending),
            "problem": ["; ".join(problems[s]) for s in offending],
        },
        index=offending,
    )
    return report.reset_index()
