"""Feature checks on the built generated days: the class balance matches the sessions it comes
from, and planted leakage or a flattened column is caught (evaluated on an edited copy); a visit
planted across midnight goes through lake, mart and features as one row on its first day."""

import datetime as dt
import shutil

import duckdb
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.layers.features.checks import CHECKS
from platform_assets.lib.layout import DataLayout
from platform_assets.settings import PlatformSettings
from platform_assets_tests.checks_support import build_days, check_run, ingest, jsonl_event, land, values

BY_NAME = {c.spec.name: c for c in CHECKS}


def test_class_balance_is_recorded_from_the_days_sessions(built_platform):
    day = built_platform.days[2]
    con = duckdb.connect(str(built_platform.layout.warehouse_db), read_only=True)
    # whole sessions, told from the mart's per-day rows: the first day's row is the entry
    rows, positives = con.execute(
        "WITH whole AS (SELECT session_id, min(event_date) AS first_day, bool_or(converted) AS converted, "
        "arg_min(is_bot, event_date) AS is_bot FROM sessions GROUP BY session_id) "
        "SELECT count(*), count(*) FILTER (WHERE converted) FROM whole WHERE first_day = ? AND NOT is_bot",
        [day],
    ).fetchone()
    con.close()
    with check_run(built_platform.defs, built_platform.instance) as run:
        balance = BY_NAME["class_balance"].evaluate(run, day)
        leakage = BY_NAME["no_label_leakage"].evaluate(run, day)
    assert balance.passed and 0 < positives < rows
    found = values(balance)
    assert (found["rows"], found["positives"], found["negatives"]) == (rows, positives, rows - positives)
    assert found["positive_rate"] == pytest.approx(positives / rows)
    assert leakage.passed and values(leakage)["leaking_rows"] == 0


def test_planted_leakage_and_a_flattened_column_are_caught(built_platform, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built_platform.root, root)
    day = built_platform.days[3]
    con = duckdb.connect(str(DataLayout(root).warehouse_db))
    first, second = (
        r[0]
        for r in con.execute(
            "SELECT session_id FROM session_features WHERE event_date = ? ORDER BY session_id LIMIT 2", [day]
        ).fetchall()
    )
    # One session counts a session that had not ended yet; another is dated after its own start.
    con.execute(
        "UPDATE session_features SET prior_sessions_28d = prior_sessions_28d + 1 "
        "WHERE event_date = ? AND session_id = ?",
        [day, first],
    )
    con.execute(
        "UPDATE session_features SET days_since_prior_session = -0.25 "
        "WHERE event_date = ? AND session_id = ?",
        [day, second],
    )
    con.execute("UPDATE session_features SET device = 'desktop' WHERE event_date = ?", [day])
    con.close()

    with check_run(build_definitions(PlatformSettings(data_dir=root)), built_platform.instance) as run:
        leakage = BY_NAME["no_label_leakage"].evaluate(run, day)
        constant = BY_NAME["no_constant_columns"].evaluate(run, day)
    assert not leakage.passed
    found = values(leakage)
    assert found["leaking_rows"] == 2
    assert first in found["sample"] and second in found["sample"]
    assert found["problems"] == {
        "history counts sessions not ended at the start": 1,
        "days_since_prior_session is not from the latest ended session": 1,
    }
    assert not constant.passed
    assert values(constant)["constant_columns"] == ["device", "entry_event_type"]
    assert values(constant)["distinct_values"]["device"] == 1


def test_a_range_is_judged_in_one_read_of_the_lake_with_each_days_own_result(
    built_platform, tmp_path, monkeypatch
):
    root = tmp_path / "copy"
    shutil.copytree(built_platform.root, root)
    days = built_platform.days
    con = duckdb.connect(str(DataLayout(root).warehouse_db))
    for day, extra in ((days[1], 1), (days[3], 2)):  # one leaking row on day 1, two on day 3
        con.execute(
            "UPDATE session_features SET prior_sessions_28d = prior_sessions_28d + 1 WHERE session_id IN "
            "(SELECT session_id FROM session_features WHERE event_date = ? ORDER BY session_id LIMIT ?)",
            [day, extra],
        )
    rows_per_day = dict(
        con.execute(
            "SELECT strftime(event_date, '%Y-%m-%d'), count(*) FROM session_features GROUP BY 1"
        ).fetchall()
    )
    con.close()
    # the range's one read: the event windows of its first and last day, counted from the files
    layout = DataLayout(root)
    first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    files = [
        str(p) for p in layout.days_fragments(first - dt.timedelta(days=29), last + dt.timedelta(days=1))
    ]
    with duckdb.connect() as counter:
        [(events_read,)] = counter.execute(f"SELECT count(*) FROM read_parquet({files})").fetchall()

    leakage = BY_NAME["no_label_leakage"]
    with check_run(build_definitions(PlatformSettings(data_dir=root)), built_platform.instance) as run:
        one_by_one = {day: values(leakage.evaluate(run, day)) for day in days}
        together = {day: values(result) for day, result in leakage.evaluate_days(run, days).items()}
        monkeypatch.setattr("platform_assets.layers.features.checks.LEAKAGE_DAYS_PER_PASS", 3)
        in_passes_of_three = {day: values(r) for day, r in leakage.evaluate_days(run, days).items()}

    assert {day: found["leaking_rows"] for day, found in together.items()} == {
        days[0]: 0,
        days[1]: 1,
        days[2]: 0,
        days[3]: 2,
    }
    assert {day: found["rows"] for day, found in together.items()} == rows_per_day
    assert together[days[0]]["lake_events"] == events_read
    for day in days:  # the same verdict, rows, sample and problems as day by day
        for found in (together[day], in_passes_of_three[day]):
            assert {k: v for k, v in found.items() if k != "lake_events"} == {
                k: v for k, v in one_by_one[day].items() if k != "lake_events"
            }
    assert together[days[3]]["problems"] == {"history counts sessions not ended at the start": 2}


def test_a_range_run_publishes_its_newest_day_to_the_online_store_only(built_platform):
    from platform_assets.serving.online_store import read_pointer, store_root

    days = built_platform.days  # built in one range run by the fixture
    root = store_root(built_platform.root)
    assert [p.name.split(".")[0] for p in root.glob("*.parquet")] == [days[-1]]
    assert read_pointer(root)["day"] == days[-1]
    recorded = {
        e.partition: {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()}
        for e in built_platform.build.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "features/visitor_history"
    }
    assert set(recorded) == set(days)
    assert all(recorded[day]["superseded_by"] == days[-1] for day in days[:-1])
    assert {recorded[day]["engine"] for day in days} == {"duckdb"}
    # the published day: one row per non-bot whole session begun in its window, counted from the mart
    con = duckdb.connect(str(built_platform.layout.warehouse_db), read_only=True)
    sessions = con.execute(
        "SELECT count(*) FROM (SELECT session_id, arg_min(is_bot, event_date) AS bot FROM sessions "
        "GROUP BY session_id) WHERE NOT bot"
    ).fetchone()[0]
    con.close()
    assert recorded[days[-1]]["dagster/row_count"] == sessions > 0
    checks = {
        e.check_name: e.passed
        for e in built_platform.build.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "features/visitor_history"
    }
    assert checks == {"one_row_per_whole_session": True}


DAY, NEXT = "2026-04-07", "2026-04-08"


def test_a_visit_across_midnight_is_one_feature_row_and_the_old_split_row_is_caught(defs, instance, layout):
    # One visitor (ip 192.0.2.7): a visit from 23:50 (landing) to a purchase at 00:10, then another
    # visit at 09:00 the next day; another visitor at noon.
    visit = [
        jsonl_event(f"{DAY}T23:50:00Z", path="/", ip="192.0.2.7"),
        jsonl_event(f"{DAY}T23:58:00Z", path="/cart", ip="192.0.2.7"),
        jsonl_event(f"{NEXT}T00:02:00Z", path="/checkout", ip="192.0.2.7"),
        jsonl_event(f"{NEXT}T00:10:00Z", path="/checkout/complete", ip="192.0.2.7"),
        jsonl_event(f"{NEXT}T09:00:00Z", path="/", ip="192.0.2.7", session_id="s-192.0.2.7-b"),
        jsonl_event(f"{DAY}T12:00:00Z", path="/product/3", ip="192.0.2.9"),
    ]
    land(layout, "visit.jsonl", visit)
    assert ingest(defs, instance, "visit.jsonl").success
    build = build_days(defs, instance, DAY, NEXT)
    leakage = {
        e.partition: e.passed
        for e in build.get_asset_check_evaluations()
        if e.check_name == "no_label_leakage"
    }
    assert leakage in ({None: True}, {DAY: True, NEXT: True}), leakage

    con = duckdb.connect(str(layout.warehouse_db))
    features = con.execute(
        "SELECT event_date, session_id, session_start, entry_event_type, label, prior_sessions_28d, "
        "prior_conversions_28d, days_since_prior_session FROM session_features ORDER BY session_start"
    ).fetchall()
    mart_rows = con.execute("SELECT count(*) FROM sessions WHERE session_id = 's-192.0.2.7'").fetchone()[0]
    day, next_day = dt.date.fromisoformat(DAY), dt.date.fromisoformat(NEXT)
    at = dt.datetime.fromisoformat
    assert mart_rows == 2  # the mart keeps a row per day (traffic accounting)
    assert features == [
        (day, "s-192.0.2.9", at(f"{DAY} 12:00"), "product", 0, 0, 0, None),
        (day, "s-192.0.2.7", at(f"{DAY} 23:50"), "landing", 1, 0, 0, None),
        (next_day, "s-192.0.2.7-b", at(f"{NEXT} 09:00"), "landing", 0, 1, 1, (9 * 60 - 10) / 1440),
    ]

    # The row the old per-day split gave: the after-midnight part as a session of its own, its
    # first half (2 page views, ended 23:58) as history.
    con.execute(
        "INSERT INTO session_features SELECT * REPLACE (DATE '2026-04-08' AS event_date, "
        "'s-192.0.2.7' AS session_id, TIMESTAMP '2026-04-08 00:02:00' AS session_start, "
        "'checkout' AS entry_event_type, 0 AS hour_of_day, 1 AS label, 1 AS prior_sessions_28d, "
        "0 AS prior_conversions_28d, 2 AS prior_page_views_28d, 4 / 1440 AS days_since_prior_session) "
        "FROM session_features WHERE session_id = 's-192.0.2.7-b'"
    )
    con.close()
    with check_run(defs, instance) as run:
        caught = BY_NAME["no_label_leakage"].evaluate(run, NEXT)
    assert not caught.passed
    found = values(caught)
    assert found["leaking_rows"] == 1
    assert found["problems"] == {
        "not the session's first day (a later part of it)": 1,
        "session_start is not the first event": 1,
        "entry is not the first event": 1,
        "history counts sessions not ended at the start": 1,
        "page views of unended sessions": 1,
        "days_since_prior_session is not from the latest ended session": 1,
    }
    assert "s-192.0.2.7" in found["sample"]
