"""What a day's feature rows must be, recomputed in DuckDB SQL from the raw lake events, apart from
the feature SQL (no mart, no feature view): the check ``no_label_leakage`` compares the two.

A session is all lake events with its id, whichever days they fall on. Its first event (by ts,
source file and line, the tie-break the marts use) gives its start, visitor, entry type and bot
flag; its last event its end; it converted when any of its purchases was answered below 400. A
feature row of day D must be a session that began on D, with that entry and that label; its
history may count only the visitor's non-bot sessions begun in the 28 days before D or on D that
had ENDED before it started.

The sessions are one GROUP BY over the lake Parquet, so the events never leave DuckDB: only the
offending rows (a subset of the day's rows) and two counts come back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from platform_assets.lib.layout import sql_string

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
# One query and its parameters in, a frame out (CheckRun.warehouse, or a connection's execute).
Query = Callable[[str, Sequence], pd.DataFrame]

# Each problem, in the order it is reported within a row, with when it holds. ``f`` is the feature
# row, ``s`` the lake session of its id (NULL columns when none), ``h`` its recomputed history.
# A comparison with a NULL side counts as a difference (``coalesce(..., true)``), an ordering with
# a NULL side does not: as the pandas comparisons of the first version of this check did.
_ROW_PROBLEMS = (
    ("no such session in the lake events", "s.session_id IS NULL"),
    (
        "not the session's first day (a later part of it)",
        "s.session_id IS NOT NULL AND coalesce(CAST(s.session_start AS DATE) <> f.event_date, true)",
    ),
    (
        "session_start is not the first event",
        "s.session_id IS NOT NULL AND coalesce(f.session_start <> s.session_start, true)",
    ),
    (
        "entry is not the first event",
        "s.session_id IS NOT NULL AND coalesce(f.entry_event_type <> s.entry_event_type, true)",
    ),
    (
        "visitor is not the first event's",
        "s.session_id IS NOT NULL AND coalesce(f.visitor_id <> s.visitor_id, true)",
    ),
    ("a bot session", "s.session_id IS NOT NULL AND s.is_bot"),
    (
        "label is not the whole session's conversion",
        "s.session_id IS NOT NULL AND coalesce(f.label <> CAST(s.converted AS INTEGER), true)",
    ),
    ("hour_of_day is not the start's", "coalesce(f.hour_of_day <> hour(f.session_start), true)"),
    ("history counts sessions not ended at the start", "coalesce(f.prior_sessions_28d > h.ended, false)"),
    ("history misses sessions ended before the start", "coalesce(f.prior_sessions_28d < h.ended, false)"),
    ("prior_conversions_28d differs", "coalesce(f.prior_conversions_28d <> h.conversions, true)"),
    ("page views of unended sessions", "coalesce(f.prior_page_views_28d > h.page_views, false)"),
    (
        "days_since_prior_session is not from the latest ended session",  # to the millisecond
        "(f.days_since IS NULL) <> (h.expected_days IS NULL) "
        "OR coalesce(abs(f.days_since - h.expected_days) * 86400000 > 1, false)",
    ),
)
MISSING_ROW = "a session begun that day has no feature row"

_SQL = """
WITH events AS (
    SELECT ts, session_id, visitor_id, event_type, status, device, source_file, source_line
    FROM {events}
),
sessions AS MATERIALIZED (
    -- every session id of the window, whole: the first event (ts, file, line) gives the entry
    SELECT
        session_id, session_start, session_end, entry.visitor_id AS visitor_id,
        coalesce(entry.event_type, 'unknown') AS entry_event_type,
        coalesce(entry.device = 'bot', false) AS is_bot,
        converted, page_views
    FROM (
        SELECT
            session_id,
            min(ts) AS session_start,
            max(ts) AS session_end,
            arg_min(
                {{'visitor_id': visitor_id, 'event_type': event_type, 'device': device}},
                {{'ts': ts, 'file': source_file, 'line': source_line}}
            ) AS entry,
            coalesce(bool_or(event_type = 'purchase' AND status < 400), false) AS converted,
            count_if(event_type IS NULL OR event_type NOT IN ('static', 'api')) AS page_views
        FROM events
        WHERE session_id IS NOT NULL
        GROUP BY session_id
    )
),
features AS MATERIALIZED (
    SELECT
        CAST(event_date AS DATE) AS event_date,
        CAST(event_date AS DATE) - {history_days} AS history_from,
        session_id, visitor_id, session_start, entry_event_type, hour_of_day, label,
        prior_sessions_28d, prior_conversions_28d, prior_page_views_28d,
        nullif(CAST(days_since_prior_session AS DOUBLE), 'NaN'::DOUBLE) AS days_since
    FROM {features}
),
ended AS (
    -- per feature row, the visitor's non-bot sessions begun in the window that ended before it
    SELECT
        f.session_id,
        count(*) AS ended,
        sum(CAST(w.converted AS INTEGER)) AS conversions,
        sum(w.page_views) AS page_views,
        max(w.session_end) AS latest_end
    FROM features AS f
    JOIN sessions AS w ON w.visitor_id = f.visitor_id
    WHERE NOT w.is_bot
      AND CAST(w.session_start AS DATE) BETWEEN f.history_from AND f.event_date
      AND w.session_end < f.session_start
    GROUP BY f.session_id
),
checked AS (
    SELECT
        f.event_date,
        f.session_id,
        f.session_start,
        s.session_start AS first_event,
        f.label,
        s.converted,
        f.prior_sessions_28d,
        h.ended AS ended_before,
        list_filter([{problems}], lambda p: p IS NOT NULL) AS problems
    FROM features AS f
    LEFT JOIN sessions AS s ON s.session_id = f.session_id
    LEFT JOIN (
        SELECT
            f.session_id,
            coalesce(e.ended, 0) AS ended,
            coalesce(e.conversions, 0) AS conversions,
            coalesce(e.page_views, 0) AS page_views,
            date_diff('microsecond', e.latest_end, f.session_start) / 86400000000 AS expected_days
        FROM features AS f
        LEFT JOIN ended AS e ON e.session_id = f.session_id
    ) AS h ON h.session_id = f.session_id
    UNION ALL
    SELECT
        CAST(s.session_start AS DATE), s.session_id, NULL, s.session_start, NULL, s.converted,
        NULL, NULL, [{missing}]
    FROM sessions AS s
    WHERE NOT s.is_bot
      AND CAST(s.session_start AS DATE) BETWEEN {first_day} AND {last_day}
      AND NOT EXISTS (
          SELECT 1 FROM features AS f
          WHERE f.session_id = s.session_id AND f.event_date = CAST(s.session_start AS DATE)
      )
)
SELECT
    event_date, session_id, session_start, first_event, label, converted, prior_sessions_28d,
    ended_before, array_to_string(problems, '; ') AS problem
FROM checked
WHERE len(problems) > 0
ORDER BY event_date, session_id
"""


@dataclass(frozen=True)
class Leaks:
    """The offending rows (one per session id and day, sorted, with its ``problem``: the problems
    joined by '; '), how many feature rows were checked per day, and how many lake events were read."""

    rows: pd.DataFrame
    feature_rows_by_day: dict[dt.date, int]
    lake_events: int

    @property
    def feature_rows(self) -> int:
        return sum(self.feature_rows_by_day.values())


def event_window(day: dt.date) -> tuple[dt.date, dt.date]:
    """The lake days to read for the feature rows of ``day``: the history window, the day before it
    (to tell a session begun before the window from one begun in it) and the lookahead."""
    return day - dt.timedelta(days=HISTORY_DAYS + 1), day + dt.timedelta(days=LOOKAHEAD_DAYS)


def _date(day: dt.date) -> str:
    return f"DATE '{dt.date(day.year, day.month, day.day).isoformat()}'"


def leaks_query(features: str, events: str, day: dt.date, last_day: dt.date | None = None) -> str:
    """The SQL of the offending rows of the days ``day`` .. ``last_day`` (or ``day`` alone):
    ``features`` is a relation of those days' feature rows (it may hold query parameters: it
    appears once), ``events`` one of the lake events from :func:`event_window` of the first day to
    that of the last (at least :data:`EVENT_COLUMNS`). Each row is judged against its own day."""
    problems = ", ".join(f"CASE WHEN {when} THEN {sql_string(text)} END" for text, when in _ROW_PROBLEMS)
    return _SQL.format(
        events=events,
        features=features,
        first_day=_date(day),
        last_day=_date(last_day or day),
        history_days=HISTORY_DAYS,
        problems=problems,
        missing=sql_string(MISSING_ROW),
    )


def find_leaks(
    query: Query,
    features: str,
    events: str,
    day: dt.date,
    params: Sequence = (),
    *,
    last_day: dt.date | None = None,
) -> Leaks:
    """Run :func:`leaks_query` through ``query`` (``params`` are those of ``features``): the
    recomputation and the comparison stay in DuckDB; the offending rows and the counts come back."""
    rows = query(leaks_query(features, events, day, last_day), list(params))
    rows["event_date"] = pd.to_datetime(rows["event_date"]).dt.date
    per_day = query(
        f"SELECT CAST(event_date AS DATE) AS day, count(*) AS n FROM {features} GROUP BY 1", list(params)
    )
    lake_events = query(f"SELECT count(*) AS n FROM {events}", []).iloc[0]["n"]
    by_day = {pd.Timestamp(d).date(): int(n) for d, n in zip(per_day["day"], per_day["n"], strict=True)}
    return Leaks(rows, by_day, int(lake_events))


def leaking_rows(features: pd.DataFrame, events: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """:func:`find_leaks` on frames (hand-made rows and events) in a private DuckDB: the feature rows
    of ``day`` (and the day's sessions without one) that disagree with the whole sessions of
    ``events``, one row each with its ``problem``; empty when all was knowable at the start."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("leak_features", features)
        con.register("leak_events", events)
        leaks = find_leaks(
            lambda sql, params: con.execute(sql, params).df(), "leak_features", "leak_events", day
        )
    return leaks.rows
