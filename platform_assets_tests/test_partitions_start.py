"""The daily partitions start where the data does (``PLATFORM_PARTITIONS_START``), not in 2015:
the assets, the jobs, the sensors and the demo all use the configured first day."""

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.cli import demo
from platform_assets.definitions import build_definitions
from platform_assets.layers.common.names import BUILD_DAY_JOB, LAKE_DAYS_SENSOR, MONITOR_DAY_JOB
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.log_generator import generate_logs
from platform_assets.settings import DEFAULT_PARTITIONS_START, PlatformSettings, load_settings
from platform_assets_tests.checks_support import ingest, jsonl_event, land
from platform_assets_tests.lake.test_days_sensor import Ticks

ROOT = Path(__file__).resolve().parents[1]
DAILY_ASSETS = {
    "warehouse/daily_traffic",
    "warehouse/sessions",
    "warehouse/user_activity",
    "warehouse/funnel",
    "features/session_features",
    "features/visitor_history",
    "predictions/session_predictions",
    "monitoring/feature_drift",
    "monitoring/model_performance",
    "experiments/ab_results",
}


def first_days(defs: dg.Definitions) -> dict[str, str]:
    """The first partition of every daily asset and daily job of ``defs``."""
    graph = defs.resolve_asset_graph()
    firsts = {}
    for key in graph.get_all_asset_keys():
        partitions = graph.get(key).partitions_def
        if isinstance(partitions, dg.DailyPartitionsDefinition):
            firsts[key.to_user_string()] = partitions.get_first_partition_key()
    for job in (BUILD_DAY_JOB, MONITOR_DAY_JOB):
        firsts[job] = defs.resolve_job_def(job).partitions_def.get_first_partition_key()
    return firsts


@pytest.mark.parametrize("start", ["2026-11-01", "2024-06-15"])
def test_every_daily_asset_and_job_starts_at_the_configured_day(tmp_path, start):
    defs = build_definitions(
        load_settings({"PLATFORM_DATA_DIR": str(tmp_path), "PLATFORM_PARTITIONS_START": start})
    )
    assert first_days(defs) == dict.fromkeys([*sorted(DAILY_ASSETS), BUILD_DAY_JOB, MONITOR_DAY_JOB], start)


def test_the_default_start_is_no_later_than_the_shipped_samples(tmp_path):
    defs = build_definitions(load_settings({"PLATFORM_DATA_DIR": str(tmp_path)}))
    assert set(first_days(defs).values()) == {DEFAULT_PARTITIONS_START}
    # years of empty partitions made the UI grey; the CI sample and the benchmarks must still fit
    assert DEFAULT_PARTITIONS_START >= "2025-01-01"
    sample = re.search(r"^FIRST_DAY=(\S+)$", (ROOT / ".ci" / "materialize_sample").read_text(), re.M)
    benchmarks = re.search(r'^START = "(\S+)"', (ROOT / "benchmarks" / "data.py").read_text(), re.M)
    assert sample and benchmarks
    assert min(sample[1], benchmarks[1]) >= DEFAULT_PARTITIONS_START


def test_a_day_in_range_is_built_and_one_before_the_start_is_refused(tmp_path, instance, capfd):
    layout = DataLayout(tmp_path / "platform").ensure()
    defs = build_definitions(PlatformSettings(data_dir=layout.root, partitions_start="2026-11-20"))
    generate_logs(layout.landing, "2026-11-20", 1, 300, seed=3, malformed_rate=0.0)
    land(layout, "early.jsonl", [jsonl_event("2026-11-19T10:00:00Z", ip="198.51.100.7")])
    for key in layout.landed_keys():
        assert ingest(defs, instance, key).success
    # the sensor of the definitions uses their partitions: the day before the start is not requested
    tick = Ticks(defs.resolve_sensor_def(LAKE_DAYS_SENSOR), instance, defs)
    assert list(tick()) == ["2026-11-20"]
    err = capfd.readouterr().err
    assert "touched 2026-11-19, outside the event_days partitions (2026-11-20.." in err

    build = defs.resolve_job_def(BUILD_DAY_JOB)
    result = build.execute_in_process(partition_key="2026-11-20", instance=instance)
    assert result.success
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert built == {"warehouse/daily_traffic", "warehouse/sessions", "warehouse/user_activity"} | {
        "warehouse/funnel",
        "features/session_features",
        "features/visitor_history",
    }
    with pytest.raises(dg.DagsterUnknownPartitionError, match="2026-11-19"):
        build.execute_in_process(partition_key="2026-11-19", instance=instance)


def test_the_monitor_sensor_lists_the_days_of_a_range_in_the_configured_partitions(tmp_path):
    from platform_assets.layers.monitoring.sensors import built_days

    days = build_definitions(PlatformSettings(data_dir=tmp_path, partitions_start="2026-11-20"))
    partitions = days.resolve_job_def(BUILD_DAY_JOB).partitions_def
    run = dg.DagsterRun(
        job_name=BUILD_DAY_JOB,
        tags={
            "dagster/asset_partition_range_start": "2026-11-20",
            "dagster/asset_partition_range_end": "2026-11-22",
        },
    )
    assert built_days(run, partitions) == ["2026-11-20", "2026-11-21", "2026-11-22"]


def test_the_demo_starts_the_partitions_at_its_first_day(tmp_path, instance, monkeypatch):
    """``run_demo`` builds its definitions with daily partitions from its first day (so its UI is
    filled), and prints a ``dagster dev`` command that shows the same partitions."""
    seen: list[PlatformSettings] = []

    class Stop(Exception):
        pass

    def build(settings: PlatformSettings) -> dg.Definitions:
        seen.append(settings)
        raise Stop

    monkeypatch.setattr(demo, "platform_instance", lambda _data_dir: (instance, tmp_path / "home"))
    monkeypatch.setattr(demo, "build_definitions", build)
    options = demo.DemoOptions(days=10, drift_days=2)
    with pytest.raises(Stop):
        demo.run_demo(PlatformSettings(data_dir=tmp_path / "data"), options)
    today = dt.datetime.now(dt.UTC).date()
    assert seen[0].partitions_start == (today - dt.timedelta(days=12)).isoformat()

    later = demo.demo_settings(PlatformSettings(data_dir=tmp_path), today + dt.timedelta(days=3))
    assert later.partitions_start == today.isoformat()  # a later first day: today, a valid start

    report = demo.DemoReport(data_dir=tmp_path, dagster_home=tmp_path / "home", partitions_start="2026-10-22")
    assert "PLATFORM_PARTITIONS_START=2026-10-22 " in demo.format_report(report)
