"""What a mart's or feature table's materialization shows in the UI: each day's own figures (also in
a range run), a preview of the day's rows, the column lineage as a table, and the engine that ran."""

import datetime as dt

import dagster as dg
import duckdb
import pytest

from platform_assets.layers.common.metadata import lineage_markdown
from platform_assets.layers.common.names import ENGINE_TAG, RANGE_END_TAG, RANGE_START_TAG
from platform_assets.lib.log_generator import generate_logs

FIRST = dt.date(2025, 3, 1)
DAYS = [(FIRST + dt.timedelta(days=n)).isoformat() for n in range(3)]
TABLES = [["warehouse", "daily_traffic"], ["warehouse", "sessions"], ["features", "session_features"]]


def _events(instance: dg.DagsterInstance, key: list[str]) -> dict[str, dg.AssetMaterialization]:
    """The latest materialization of each day of ``key``."""
    latest: dict[str, dg.AssetMaterialization] = {}
    for day in DAYS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day]), limit=1
        ).records
        latest[day] = records[0].asset_materialization
    return latest


@pytest.fixture
def range_built(defs, layout, engine):
    """Three days of lake events of different volumes, built by one range run of ``build_day``."""
    for n, day in enumerate(DAYS):
        files = generate_logs(
            layout.landing / day, dt.date.fromisoformat(day), 1, 150 * (n + 1), seed=n, malformed_rate=0.0
        )
        for f in files:
            engine.ingest_log_file(str(f.path), f"{day}/{f.path.name}", f"{day}-{f.path.stem}")
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("build_day").execute_in_process(
            instance=instance, tags={RANGE_START_TAG: DAYS[0], RANGE_END_TAG: DAYS[-1]}
        )
        assert result.success
        yield instance, layout


def test_each_day_of_a_range_run_records_its_own_figures(range_built):
    instance, layout = range_built
    with duckdb.connect(str(layout.warehouse_db), read_only=True) as con:
        for key in TABLES:
            events = _events(instance, key)
            for day, event in events.items():
                counted = con.execute(f"SELECT count(*) FROM {key[1]} WHERE event_date = ?", [day]).fetchone()
                assert event.metadata["dagster/row_count"].value == counted[0], (key, day)
                assert "rows_by_day" not in event.metadata  # no range-wide figures on a day's event
            inputs = {day: event.metadata["input_rows_total"].value for day, event in events.items()}
            assert len(set(inputs.values())) == len(DAYS), (key, inputs)  # a series, not a flat line
        lake_bytes = {d: e.metadata["input_bytes"].value for d, e in _events(instance, TABLES[0]).items()}
        assert len(set(lake_bytes.values())) == len(DAYS) and min(lake_bytes.values()) > 0


def test_each_day_shows_a_preview_of_its_rows_the_lineage_table_and_the_engine(range_built):
    instance, _ = range_built
    for day, event in _events(instance, ["warehouse", "daily_traffic"]).items():
        preview = event.metadata["preview"].value
        lines = preview.splitlines()
        assert lines[0].startswith("| event_date") and 3 <= len(lines) <= 2 + 5  # header, rule, <= 5 rows
        assert all(day in line for line in lines[2:]), preview  # rows of that day only
    # the column lineage as a table the open-source UI shows, and the engine that ran
    event = _events(instance, ["warehouse", "daily_traffic"])[DAYS[1]]
    table = event.metadata["column_lineage_table"].value
    assert "| bytes | lake/events.bytes |" in table
    assert "| requests | (no input column) |" in table  # a count(*) is listed too
    assert "dagster/column_lineage" in event.metadata  # kept for Dagster+
    assert event.metadata["engine"].value == "duckdb"
    assert event.tags[ENGINE_TAG] == "duckdb"


def test_lineage_table_is_escaped_and_bounded():
    evil = "<script>x</script>|"
    lineage = dg.TableColumnLineage(
        deps_by_column={
            f"c{n}": [dg.TableColumnDep(dg.AssetKey(["lake", "events"]), evil) for _ in range(1)]
            for n in range(500)
        }
        | {"wide": [dg.TableColumnDep(dg.AssetKey(["lake", "events"]), f"s{n}") for n in range(50)]}
    )
    text = lineage_markdown(lineage, ["wide"]).value
    assert "<script>" not in text and "&lt;script&gt;" in text and "\\|" in text
    assert len(text.splitlines()) <= 2 + 200 + 1
    assert "… 30 more" in text and "more columns" in text


def test_lake_events_show_a_preview_of_the_file_and_the_engine(defs, layout):
    path = layout.landing / "day.jsonl"
    lines = [
        '{"ts": "2025-03-01T10:00:00Z", "ip": "192.0.2.1", "path": "/<b>x</b>", "status": 200}',
        *(
            f'{{"ts": "2025-03-01T1{n}:00:00Z", "ip": "192.0.2.1", "path": "/p{n}", "status": 200}}'
            for n in range(9)
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("log_files", ["day.jsonl"])
        assert (
            defs.resolve_job_def("ingest_log_file")
            .execute_in_process(partition_key="day.jsonl", instance=instance)
            .success
        )
        event = instance.fetch_materializations(dg.AssetKey(["lake", "events"]), limit=1).records[0]
        materialization = event.asset_materialization
    preview = materialization.metadata["preview"].value
    assert len(preview.splitlines()) == 2 + 5  # five of the ten events
    assert "<b>" not in preview and "&lt;b&gt;" in preview
    assert materialization.tags[ENGINE_TAG] == "duckdb"
