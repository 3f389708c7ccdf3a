"""Column lineage traced from the SQL, and data versions derived from a partition's content."""

import datetime as dt
import json
from importlib import resources

import dagster as dg
import pytest

from platform_assets.lib.log_generator import generate_logs
from platform_assets.sql import load, load_folder
from platform_assets.sql.lineage import LINEAGE_FILE, column_lineage, trace_all

DEFINITIONS = {d.name: d for d in [*load_folder("marts"), *load_folder("features")]}
LAKE_COLUMNS = set(load("lake/events").columns)


def _deps(table: str) -> dict[str, set[tuple[str, str]]]:
    lineage = column_lineage(DEFINITIONS[table])
    return {
        column: {(d.asset_key.to_user_string(), d.column_name) for d in deps}
        for column, deps in lineage.deps_by_column.items()
    }


def test_the_traced_lineage_file_is_up_to_date_with_the_sql():
    """Runs read sql/column_lineage.json; tracing the SQL again must give the same file."""
    committed = json.loads(resources.files("platform_assets.sql").joinpath(LINEAGE_FILE).read_text("utf-8"))
    assert committed == trace_all(), "stale: run `python -m platform_assets.sql.lineage` and commit the file"


def test_lineage_names_the_columns_each_mart_column_is_computed_from():
    traffic = _deps("daily_traffic")
    # read off the SQL by hand
    assert traffic["bytes"] == {("lake/events", "bytes")}
    assert traffic["p95_latency_ms"] == {("lake/events", "latency_ms")}
    assert traffic["distinct_visitors"] == {("lake/events", "visitor_id")}
    assert traffic["server_errors"] == {("lake/events", "status")}
    assert "requests" not in traffic  # a count(*): no input column
    sessions = _deps("sessions")
    assert sessions["session_start"] == {("lake/events", "ts")}
    assert sessions["entry_path"] == {("lake/events", "path")}
    features = _deps("session_features")
    # a whole session: its mart rows and its lake events after midnight (a purchase, its last event)
    purchase = {("lake/events", "event_type"), ("lake/events", "status")}
    assert features["label"] == {("warehouse/sessions", "converted"), *purchase}
    assert features["prior_conversions_28d"] == {("warehouse/sessions", "converted"), *purchase}
    assert features["days_since_prior_session"] == {
        ("warehouse/sessions", "session_end"),
        ("warehouse/sessions", "session_start"),
        ("lake/events", "ts"),
    }


@pytest.mark.parametrize("table", sorted(DEFINITIONS))
def test_lineage_only_names_real_upstream_columns(table):
    """Every traced source column exists in the upstream table (lake schema or a mart's output)."""
    outputs = {f"warehouse/{d.name}": d for d in load_folder("marts")}
    deps = _deps(table)
    assert deps, f"{table}: no column lineage traced"
    for column, sources in deps.items():
        for asset, source_column in sources:
            if asset == "lake/events":
                assert source_column in LAKE_COLUMNS, (table, column, source_column)
            else:
                upstream = outputs[asset]
                documented = set(upstream.grain) | set(upstream.columns) | set(_deps(upstream.name))
                assert source_column in documented, (table, column, asset, source_column)


def _day_version(instance: dg.DagsterInstance, key: list[str], day: str) -> str:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day]), limit=1
    ).records[0]
    return record.asset_materialization.tags["dagster/data_version"]


def test_data_version_follows_content_not_runs(defs, layout, engine):
    files = generate_logs(layout.landing, dt.date(2025, 3, 1), 1, 300, seed=3, malformed_rate=0.0)
    first = files[0].path
    engine.ingest_log_file(str(first), first.name, "first")
    day = "2025-03-01"
    build = defs.resolve_job_def("build_day")
    with dg.instance_for_test() as instance:
        build.execute_in_process(partition_key=day, instance=instance)
        v1 = _day_version(instance, ["warehouse", "daily_traffic"], day)
        build.execute_in_process(partition_key=day, instance=instance)
        assert _day_version(instance, ["warehouse", "daily_traffic"], day) == v1  # same rows, same version

        record = instance.fetch_materializations(
            dg.AssetKey(["warehouse", "daily_traffic"]), limit=1
        ).records[0]
        lineage = record.asset_materialization.metadata["dagster/column_lineage"].value
        assert {d.column_name for d in lineage.deps_by_column["bytes"]} == {"bytes"}

        # more events for the day: new content, new version
        more = generate_logs(layout.landing / "more", dt.date(2025, 3, 1), 1, 50, seed=4, malformed_rate=0.0)
        engine.ingest_log_file(str(more[0].path), "more/" + more[0].path.name, "more")
        build.execute_in_process(partition_key=day, instance=instance)
        assert _day_version(instance, ["warehouse", "daily_traffic"], day) != v1


def test_lake_version_is_the_same_for_the_same_file_and_changes_with_its_bytes(defs, layout):
    path = layout.landing / "day.jsonl"
    line = '{"ts": "2025-03-01T10:00:00Z", "ip": "192.0.2.1", "path": "/", "status": 200}\n'
    versions = []
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("log_files", ["day.jsonl"])
        ingest = defs.resolve_job_def("ingest_log_file")
        for content in (line, line, line + line.replace("10:00", "11:00")):
            path.write_text(content)
            assert ingest.execute_in_process(partition_key="day.jsonl", instance=instance).success
            for key in (["lake", "events"], ["lake", "quarantine"]):
                versions.append(_day_version(instance, key, "day.jsonl"))
    assert versions[0] == versions[1] == versions[2] == versions[3]  # re-ingested, unchanged
    assert versions[4] == versions[5] != versions[0]  # the file grew
