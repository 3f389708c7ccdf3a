"""Planted leaks are caught by the leakage recomputation: on hand-made events (a history counting a
session that ended after the start, one of the next day, a label from another session) and on the
built lake, read as Parquet in DuckDB, with a day's features computed by the feature SQL with its
no-leakage rule removed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import duckdb
import pandas as pd

from platform_assets.definitions import build_definitions
from platform_assets.engines.base import LakeDays, PartitionWrite, WarehouseRows
from platform_assets.layers.common.checks import parquet_source
from platform_assets.layers.common.sql_checks import partition_rows
from platform_assets.layers.features.checks import FEATURES_SQL
from platform_assets.layers.features.leakage import event_window, find_leaks, leaking_rows
from platform_assets.layers.lake.checks import EVENT_TYPES
from platform_assets.lib.layout import DataLayout
from platform_assets.settings import PlatformSettings
from platform_assets_tests.checks_support import check_run
from platform_assets_tests.features.test_leakage import DAY, M, N, at, events, feature, frame

UNENDED = "history counts sessions not ended at the start"
UNENDED_VIEWS = "page views of unended sessions"
WRONG_GAP = "days_since_prior_session is not from the latest ended session"


def problems(rows: pd.DataFrame, lake: pd.DataFrame, day: dt.date) -> dict[str, str]:
    found = leaking_rows(rows, lake, day)
    return dict(zip(found["session_id"], found["problem"], strict=True))


def test_a_history_counting_the_next_days_session_is_caught() -> None:
    # m (DAY 23:50) counting n, which began the next day at 09:00: 3 page views... of the future.
    leaky = feature("m", DAY, at(0, 23, 50), "landing", 1, (2, 0, 2 + 1, at(1, 9)))
    assert problems(frame(leaky), events(), DAY) == {"m": f"{UNENDED}; {UNENDED_VIEWS}; {WRONG_GAP}"}


def test_a_history_counting_an_overlapping_session_that_ended_after_the_start_is_caught() -> None:
    # q began before m (23:40) but ended after m's start (00:30): m may not count it.
    q = [
        ("q", "v1", at(0, 23, 40), "search", 200, "desktop"),
        ("q", "v1", at(1, 0, 30), "product", 200, "desktop"),
    ]
    lake = events()
    extra = pd.DataFrame(
        [
            {"session_id": s, "visitor_id": v, "ts": ts, "event_type": t, "status": st, "device": d}
            for s, v, ts, t, st, d in q
        ]
    )
    extra["source_file"], extra["source_line"] = "b.jsonl", range(1, len(extra) + 1)
    lake = pd.concat([lake, extra[lake.columns]], ignore_index=True)
    honest_q = feature("q", DAY, at(0, 23, 40), "search", 0, (1, 0, 2, at(-2, 12, 10)))
    assert problems(frame(M, honest_q), lake, DAY) == {}
    leaky_m = feature("m", DAY, at(0, 23, 50), "landing", 1, (2, 0, 2 + 2, at(1, 0, 30)))
    assert problems(frame(leaky_m, honest_q), lake, DAY) == {"m": f"{UNENDED}; {UNENDED_VIEWS}; {WRONG_GAP}"}


def test_a_label_taken_from_a_later_session_is_caught() -> None:
    # n did not buy; the visitor's purchase belongs to m.
    assert problems(frame({**N, "label": 1}), events(), N["event_date"].date()) == {
        "n": "label is not the whole session's conversion"
    }


def leaky_feature_sql() -> str:
    """The feature SQL with its no-leakage rule dropped: the history takes every other session of
    the visitor in the window, those that had not ended at the start (or begun) included."""
    rule = "AND h.session_end < t.session_start"
    assert FEATURES_SQL.sql.count(rule) == 1
    return FEATURES_SQL.sql.replace(rule, "AND h.session_id <> t.session_id")


def prior_sessions(root, day: str) -> dict[str, int]:
    with duckdb.connect(str(DataLayout(root).warehouse_db), read_only=True) as con:
        sql = "SELECT session_id, prior_sessions_28d FROM session_features WHERE event_date = ?"
        return dict(con.execute(sql, [day]).fetchall())


def test_features_built_without_the_no_leakage_rule_are_caught_on_the_lake(built_platform, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built_platform.root, root)
    day = built_platform.days[3]
    date = dt.date.fromisoformat(day)
    defs = build_definitions(PlatformSettings(data_dir=root))
    first, last = event_window(date)
    lake = parquet_source(DataLayout(root).days_fragments(first, last), EVENT_TYPES)

    def leaks(run):
        return find_leaks(run.warehouse, partition_rows(FEATURES_SQL), lake, date, [day])

    with check_run(defs, built_platform.instance) as run:
        honest = leaks(run)
    assert honest.rows.empty and honest.feature_rows > 0 and honest.lake_events > 0

    before = prior_sessions(root, day)
    views = {
        "target_sessions": WarehouseRows("sessions", "event_date", date, date),
        "history_sessions": WarehouseRows("sessions", "event_date", date - dt.timedelta(days=29), date),
        "later_events": LakeDays("events", date, date + dt.timedelta(days=1)),
    }
    leaky = dataclasses.replace(FEATURES_SQL, sql=leaky_feature_sql())
    list(defs.resources["engine"].duckdb.write_partitions([PartitionWrite(leaky, views, date)]))
    after = prior_sessions(root, day)
    # The rows the removed rule changed: they count sessions that began later (there are some).
    changed = sorted(s for s, prior in after.items() if prior > before[s])
    assert changed and set(after) <= set(before)

    with check_run(defs, built_platform.instance) as run:
        caught = leaks(run)
    assert caught.feature_rows == honest.feature_rows and caught.lake_events == honest.lake_events
    assert list(caught.rows["session_id"]) == changed
    for problem in caught.rows["problem"]:
        assert problem.startswith(UNENDED)
