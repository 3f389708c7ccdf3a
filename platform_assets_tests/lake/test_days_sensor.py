"""The lake-days sensor on a real instance: real ingest runs, then one build_day request per touched day."""

import json

import dagster as dg

from platform_assets.layers.lake.assets import EVENTS
from platform_assets.layers.lake.sensors import (
    build_lake_days_sensor,
    lake_days_sensor,
    lake_lookahead_days,
    reading_days,
)
from platform_assets.lib.layout import DataLayout


def event(ts: str, path: str = "/product/1") -> str:
    return json.dumps({"ts": ts, "ip": "192.0.2.1", "user_id": "u1", "path": path, "status": 200})


def ingest(
    defs: dg.Definitions, instance: dg.DagsterInstance, layout: DataLayout, key: str, *lines: str
) -> int:
    """Land a JSONL file, run ingest_log_file for it; the storage id of its lake/events event."""
    (layout.landing / key).write_text("".join(line + "\n" for line in lines))
    instance.add_dynamic_partitions("log_files", [key])
    result = defs.resolve_job_def("ingest_log_file").execute_in_process(partition_key=key, instance=instance)
    assert result.success
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=EVENTS, asset_partitions=[key]), limit=1
    ).records
    return records[0].storage_id


class Ticks:
    def __init__(
        self, sensor: dg.SensorDefinition, instance: dg.DagsterInstance, defs: dg.Definitions
    ) -> None:
        self.sensor, self.instance, self.defs, self.cursor = sensor, instance, defs, None

    def __call__(self) -> dict[str, str]:
        """One tick, in the definitions' repository: {day: run_key} of the runs it requested."""
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        requests = result.run_requests or []
        assert len({r.partition_key for r in requests}) == len(requests)  # one run per day per tick
        return {r.partition_key: r.run_key for r in requests}


def test_each_touched_day_is_built_once_and_again_when_a_later_file_touches_it(defs, instance, layout):
    a = ingest(
        defs,
        instance,
        layout,
        "a.jsonl",
        event("2026-11-20T23:50:00Z"),
        event("2026-11-21T00:10:00Z"),
        event("2026-11-21T09:00:00+02:00"),
    )
    b = ingest(defs, instance, layout, "late.jsonl", event("2026-11-20T12:00:00Z", "/cart"))
    tick = Ticks(lake_days_sensor, instance, defs)
    assert tick() == {"2026-11-20": f"2026-11-20:{b}", "2026-11-21": f"2026-11-21:{a}"}
    assert json.loads(tick.cursor) == {"v": 1, "after_storage_id": b}
    assert tick() == {}

    c = ingest(defs, instance, layout, "later.jsonl", event("2026-11-21T18:00:00Z"))
    assert tick() == {"2026-11-21": f"2026-11-21:{c}"}
    assert tick() == {}


def test_days_outside_event_days_and_files_without_events_are_skipped(defs, instance, layout, capfd):
    ingest(
        defs,
        instance,
        layout,
        "clocks.jsonl",
        event("2010-06-01T10:00:00Z"),
        event("2099-01-01T10:00:00Z"),
        event("2026-11-19T10:00:00Z"),
    )
    ingest(defs, instance, layout, "empty.jsonl")
    tick = Ticks(lake_days_sensor, instance, defs)
    assert list(tick()) == ["2026-11-19"]
    err = capfd.readouterr().err
    assert "touched 2010-06-01, outside the event_days partitions" in err
    assert "touched 2099-01-01, outside the event_days partitions" in err
    assert tick() == {}


def test_days_built_after_their_latest_file_are_not_requested_again(defs, instance, layout):
    ingest(defs, instance, layout, "a.jsonl", event("2026-11-20T10:00:00Z"), event("2026-11-21T10:00:00Z"))
    built = defs.resolve_job_def("build_day").execute_in_process(
        partition_key="2026-11-20", instance=instance
    )
    assert built.success
    tick = Ticks(lake_days_sensor, instance, defs)  # switched on after the day was built by hand
    assert list(tick()) == ["2026-11-21"]
    d = ingest(defs, instance, layout, "b.jsonl", event("2026-11-20T11:00:00Z"))
    assert tick() == {"2026-11-20": f"2026-11-20:{d}"}


def test_a_backlog_of_materializations_is_consumed_in_bounded_ticks(defs, instance, layout):
    ingest(defs, instance, layout, "a.jsonl", event("2026-11-18T10:00:00Z"), event("2026-11-19T10:00:00Z"))
    ingest(defs, instance, layout, "b.jsonl", event("2026-11-20T10:00:00Z"))
    ingest(defs, instance, layout, "c.jsonl", event("2026-11-19T12:00:00Z"))
    tick = Ticks(build_lake_days_sensor(max_days_per_tick=2), instance, defs)
    assert list(tick()) == ["2026-11-18", "2026-11-19"]  # b would make 3 days: next tick
    assert list(tick()) == ["2026-11-19", "2026-11-20"]
    assert tick() == {}
    tick = Ticks(build_lake_days_sensor(max_records_per_tick=1), instance, defs)
    assert [list(tick()) for _ in range(4)] == [
        ["2026-11-18", "2026-11-19"],
        ["2026-11-20"],
        ["2026-11-19"],
        [],
    ]


def test_a_corrupt_cursor_starts_from_the_beginning(defs, instance, layout, capfd):
    ingest(defs, instance, layout, "a.jsonl", event("2026-11-20T10:00:00Z"))
    tick = Ticks(lake_days_sensor, instance, defs)
    tick.cursor = "[1, 2"
    assert list(tick()) == ["2026-11-20"]
    assert "unreadable cursor" in capfd.readouterr().err


def test_days_that_read_the_next_days_events_are_the_day_before_each():
    # session_features reads the lake events of the next day (a session crossing midnight)
    assert lake_lookahead_days() == 1
    touched = {"2026-11-21": 7, "2026-11-22": 9, "2026-11-25": 8}
    assert reading_days(touched, 1) == {"2026-11-20": 7, "2026-11-24": 8}
    assert reading_days(touched, 0) == {}
    assert reading_days({"2015-01-01": 3}, 1) == {}  # before the first event_days partition


def test_a_built_day_is_rebuilt_when_the_next_days_events_change(defs, instance, layout):
    ingest(defs, instance, layout, "a.jsonl", event("2026-11-20T23:50:00Z", "/"))
    built = defs.resolve_job_def("build_day").execute_in_process(
        partition_key="2026-11-20", instance=instance
    )
    assert built.success
    tick = Ticks(lake_days_sensor, instance, defs)
    assert tick() == {}  # built after its file
    # the visit goes on after midnight: 2026-11-20's features read these events
    b = ingest(defs, instance, layout, "b.jsonl", event("2026-11-21T00:05:00Z", "/checkout/complete"))
    assert tick() == {"2026-11-20": f"2026-11-20:{b}", "2026-11-21": f"2026-11-21:{b}"}
    # a day never built is not requested for its next day's events: it reads them when it is built
    ingest(defs, instance, layout, "c.jsonl", event("2026-11-23T10:00:00Z"))
    assert list(tick()) == ["2026-11-23"]
