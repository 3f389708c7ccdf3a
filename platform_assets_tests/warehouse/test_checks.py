"""Mart checks in real build_day runs: clean generated days pass; a mart edited by hand fails its
reconciliation with the lake; an hour of 5xx is flagged; a failing blocking mart check stops the
features. Expectations are counted with DuckDB straight from the lake Parquet or from the rows the
test wrote.
"""

import shutil

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.layers.warehouse.checks import CHECKS
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets.settings import PlatformSettings
from platform_assets_tests.checks_support import (
    build_days,
    check_run,
    evaluations,
    failing,
    ingest,
    jsonl_event,
    land,
    materialized,
    values,
)

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
BY_NAME = {f"{c.spec.asset_key.to_user_string()}:{c.spec.name}": c for c in CHECKS}
MART_CHECKS = {
    "warehouse/daily_traffic:keys_not_null_and_unique",
    "warehouse/daily_traffic:rates_within_0_1",
    "warehouse/daily_traffic:reconciles_with_lake",
    "warehouse/daily_traffic:hourly_5xx_share",
    "warehouse/funnel:keys_not_null_and_unique",
    "warehouse/funnel:rates_within_0_1",
    "warehouse/funnel:steps_non_increasing",
    "warehouse/sessions:keys_not_null_and_unique",
    "warehouse/sessions:reconciles_with_lake",
    "warehouse/user_activity:keys_not_null_and_unique",
    "warehouse/user_activity:reconciles_with_lake",
}
FEATURE_CHECKS = {
    "features/session_features:keys_not_null_and_unique",
    "features/session_features:no_label_leakage",
    "features/session_features:class_balance",
    "features/session_features:no_constant_columns",
    "features/visitor_history:one_row_per_whole_session",
}


def lake_events(layout: DataLayout, day: str) -> int:
    with duckdb.connect() as con:  # the day's current fragments, as the lake catalog lists them
        return con.sql(
            "SELECT count(*) FROM read_parquet(?)", params=[[str(p) for p in layout.day_fragments(day)]]
        ).fetchall()[0][0]


def test_clean_generated_days_pass_every_mart_and_feature_check(built_platform):
    build = built_platform.build
    assert build.success
    checks = evaluations(build)
    assert set(checks) == MART_CHECKS | FEATURE_CHECKS
    # The generator starts every human session on the home or a campaign landing page, so the
    # entry page type carries no information: the advisory check says so, and nothing else fails.
    assert failing(build) == {"features/session_features:no_constant_columns": WARN}
    constant = values(checks["features/session_features:no_constant_columns"])["constant_columns"]
    assert constant == ["entry_event_type"]
    con = duckdb.connect(str(built_platform.layout.warehouse_db), read_only=True)
    assert con.sql("SELECT count(DISTINCT entry_event_type) FROM session_features").fetchall() == [(1,)]
    # The backfill run checked each of its days; the metadata shown is the last day's.
    reconcile = values(checks["warehouse/daily_traffic:reconciles_with_lake"])
    assert reconcile["days_checked"] == 4 and reconcile["failing_days"] == []
    last = built_platform.days[-1]
    assert reconcile["lake_events"] == reconcile["mart_requests"] == lake_events(built_platform.layout, last)


@pytest.fixture
def edited_copy(built_platform, tmp_path):
    """A copy of the built platform whose marts the test may edit by hand."""
    root = tmp_path / "copy"
    shutil.copytree(built_platform.root, root)
    return DataLayout(root), build_definitions(PlatformSettings(data_dir=root))


def test_a_mart_edited_by_hand_fails_its_reconciliation_with_the_lake(built_platform, edited_copy):
    layout, defs = edited_copy
    day = built_platform.days[1]
    con = duckdb.connect(str(layout.warehouse_db))
    path, removed = con.execute(
        "SELECT path, sum(requests) FROM daily_traffic WHERE event_date = ? GROUP BY 1 "
        "ORDER BY 2 DESC LIMIT 1",
        [day],
    ).fetchone()
    con.execute("DELETE FROM daily_traffic WHERE event_date = ? AND path = ?", [day, path])
    session = con.execute("SELECT min(session_id) FROM sessions WHERE event_date = ?", [day]).fetchone()[0]
    con.execute(
        "UPDATE sessions SET events = events + 2 WHERE event_date = ? AND session_id = ?", [day, session]
    )
    con.close()
    run = check_run(defs, built_platform.instance)
    expected = lake_events(layout, day)

    traffic = BY_NAME["warehouse/daily_traffic:reconciles_with_lake"].evaluate(run, day)
    assert not traffic.passed and traffic.severity == ERROR
    found = values(traffic)
    assert (found["lake_events"], found["mart_requests"], found["difference"]) == (
        expected,
        expected - removed,
        -removed,
    )
    assert found["mismatched_paths"] == 1 and path in found["sample"]
    assert traffic.description == (
        f"daily_traffic {day}: sum(requests) = {expected - removed} but the lake holds {expected} events "
        f"({-removed:+d}); 1 path values differ"
    )
    sessions = BY_NAME["warehouse/sessions:reconciles_with_lake"].evaluate(run, day)
    assert not sessions.passed
    assert (values(sessions)["difference"], values(sessions)["mismatched_session_ids"]) == (2, 1)
    assert session in values(sessions)["sample"]
    untouched = BY_NAME["warehouse/user_activity:reconciles_with_lake"].evaluate(run, day)
    assert untouched.passed


def test_null_and_repeated_keys_fail_the_key_check(built_platform, edited_copy):
    layout, defs = edited_copy
    day = built_platform.days[2]
    con = duckdb.connect(str(layout.warehouse_db))
    first, second = (
        r[0]
        for r in con.execute(
            "SELECT session_id FROM sessions WHERE event_date = ? ORDER BY session_id LIMIT 2", [day]
        ).fetchall()
    )
    con.execute("UPDATE sessions SET session_id = NULL WHERE event_date = ? AND session_id = ?", [day, first])
    con.execute(
        "INSERT INTO sessions SELECT * FROM sessions WHERE event_date = ? AND session_id = ?", [day, second]
    )
    con.close()
    keys = BY_NAME["warehouse/sessions:keys_not_null_and_unique"].evaluate(
        check_run(defs, built_platform.instance), day
    )
    assert not keys.passed
    found = values(keys)
    assert found["offending_keys"] == 2
    assert "NULL in key" in found["sample"] and second in found["sample"]


def test_an_hour_of_server_errors_is_flagged_with_its_counts(defs, layout, instance):
    def hour(h: int, n: int, errors: int, status: int = 503) -> list[str]:
        return [
            jsonl_event(
                f"2026-03-12T{h:02d}:{i:02d}:00Z", status=status if i < errors else 200, ip=f"10.0.{h}.{i}"
            )
            for i in range(n)
        ]

    # 03:00 30 requests, 25 answered 503; 04:00 only 10 requests (below the minimum), all 500.
    land(layout, "outage.jsonl", [*hour(3, 30, 25), *hour(4, 10, 10, status=500), *hour(10, 40, 0)])
    assert ingest(defs, instance, "outage.jsonl").success
    result = build_days(defs, instance, "2026-03-12")
    assert result.success  # advisory: nothing is stopped
    check = evaluations(result)["warehouse/daily_traffic:hourly_5xx_share"]
    assert (check.passed, check.severity) == (False, WARN)
    assert values(check)["flagged_hours"] == [
        {"hour": 3, "requests": 30, "server_errors": 25, "share_5xx": round(25 / 30, 4)}
    ]
    assert "03:00 (25 of 30)" in (check.description or "")
    assert all(
        e.passed
        for name, e in evaluations(result).items()
        if name.startswith("warehouse/") and e is not check
    )


def test_a_failing_blocking_mart_check_stops_the_features(defs, layout, instance):
    land(layout, "d.jsonl", [jsonl_event(f"2026-03-14T09:0{i}:00Z", ip=f"192.0.2.{i}") for i in range(5)])
    assert ingest(defs, instance, "d.jsonl").success
    # The file's fragment rewritten by another tool with 5 more events that have no session id: the
    # sessions mart cannot place them (its entry-event join drops them), so its reconciliation fails.
    (path,) = layout.fragments_of(file_id("d.jsonl"))
    fragment = pq.read_table(path)
    nulls = fragment.set_column(fragment.schema.get_field_index("session_id"), "session_id", [[None] * 5])
    pq.write_table(pa.concat_tables([fragment, nulls.cast(fragment.schema)]), path)

    result = build_days(defs, instance, "2026-03-14")
    assert not result.success
    assert failing(result) == {"warehouse/sessions:reconciles_with_lake": ERROR}
    found = values(evaluations(result)["warehouse/sessions:reconciles_with_lake"])
    assert (found["lake_events"], found["mart_events"], found["mismatched_session_ids"]) == (10, 5, 1)
    assert "features/session_features" not in materialized(result)
    assert {"warehouse/sessions", "warehouse/daily_traffic"} <= materialized(result)


def test_a_store_file_with_a_session_twice_fails_the_online_store_check(built_platform, edited_copy):
    from platform_assets.layers.features.checks import CHECKS as FEATURE_CHECK_LIST
    from platform_assets.serving.online_store import store_root

    layout, defs = edited_copy
    day = built_platform.days[-1]
    (published,) = store_root(layout.root).glob(f"{day}.*.parquet")
    run = check_run(defs, built_platform.instance)
    check = next(c for c in FEATURE_CHECK_LIST if c.spec.name == "one_row_per_whole_session")
    clean = check.evaluate(run, day)
    assert clean.passed and values(clean)["rows"] == values(clean)["mart_sessions"] > 0
    rows = pq.read_table(published)
    pq.write_table(pa.concat_tables([rows, rows.slice(0, 1)]), published)  # one session twice
    doubled = check.evaluate(run, day)
    assert not doubled.passed and values(doubled)["rows"] == values(clean)["rows"] + 1
