"""Settings from the environment: the sensor tick interval and where it ends up."""

import datetime as dt
import re
import subprocess
import sys

import pytest

from platform_assets.definitions import build_definitions
from platform_assets.settings import PlatformSettings, load_settings

SENSORS = (
    "landing_files_sensor",
    "lake_days_sensor",
    "monitor_built_days",
    "retrain_on_drift",
    "decision_days_sensor",
    "experiment_decider",
)


def _env(tmp_path, **values: str) -> dict[str, str]:
    return {"PLATFORM_DATA_DIR": str(tmp_path), **values}


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 30), ("", 30), ("  ", 30), ("3", 3), (" 7 ", 7), ("1", 1)]
)
def test_sensor_interval_is_read_from_the_environment(tmp_path, raw, expected):
    env = _env(tmp_path) if raw is None else _env(tmp_path, PLATFORM_SENSOR_INTERVAL_SECONDS=raw)
    assert load_settings(env).sensor_interval_seconds == expected


@pytest.mark.parametrize("raw", ["0", "00", "-1", "+3", "1.5", "3s", "abc", "1_0", "1e3", "٣"])
def test_a_sensor_interval_that_is_not_a_whole_number_of_seconds_is_refused(tmp_path, raw):
    with pytest.raises(ValueError, match=r"PLATFORM_SENSOR_INTERVAL_SECONDS=.*whole number of seconds >= 1"):
        load_settings(_env(tmp_path, PLATFORM_SENSOR_INTERVAL_SECONDS=raw))


@pytest.mark.parametrize("value", [0, -5, 2.5, True, "3"])
def test_explicit_settings_validate_the_interval_too(tmp_path, value):
    with pytest.raises(ValueError, match="PLATFORM_SENSOR_INTERVAL_SECONDS"):
        PlatformSettings(data_dir=tmp_path, sensor_interval_seconds=value)


@pytest.mark.parametrize(("settings_kwargs", "expected"), [({}, 30), ({"sensor_interval_seconds": 4}, 4)])
def test_every_sensor_ticks_at_the_configured_interval(tmp_path, settings_kwargs, expected):
    defs = build_definitions(PlatformSettings(data_dir=tmp_path, **settings_kwargs))
    intervals = {sensor.name: sensor.minimum_interval_seconds for sensor in defs.sensors or []}
    assert intervals == dict.fromkeys(SENSORS, expected)


def test_loading_settings_loads_nothing_else_of_the_platform():
    """settings.py is a leaf: reading the environment starts neither Dagster nor DuckDB."""
    code = (
        "import sys, platform_assets.settings; "
        "print(sorted(m for m in sys.modules if m.startswith(('platform_assets', 'dagster', 'duckdb'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['platform_assets', 'platform_assets.settings']"


@pytest.mark.parametrize("raw", ["2GB", "512MB", " 4GiB ", "1.5gb", "75%", "100%", "2 GB", "800m"])
def test_duckdb_memory_limits_duckdb_accepts_load(tmp_path, raw):
    settings = load_settings(_env(tmp_path, PLATFORM_DUCKDB_MEMORY_LIMIT=raw))
    assert settings.duckdb_memory_limit == raw.strip()


@pytest.mark.parametrize("raw", ["lots", "2", "0GB", "-1", "200%", "0%", "2 giga", "GB", "2GB more"])
def test_a_duckdb_memory_limit_that_is_not_a_size_is_refused_naming_the_variable(tmp_path, raw):
    with pytest.raises(ValueError, match=rf"^PLATFORM_DUCKDB_MEMORY_LIMIT={re.escape(repr(raw.strip()))}: "):
        load_settings(_env(tmp_path, PLATFORM_DUCKDB_MEMORY_LIMIT=raw))


def test_the_duckdb_defaults_hold_when_unset_or_blank(tmp_path):
    for env in (_env(tmp_path), _env(tmp_path, PLATFORM_DUCKDB_MEMORY_LIMIT=" ", PLATFORM_DUCKDB_THREADS="")):
        settings = load_settings(env)
        assert (settings.duckdb_memory_limit, settings.duckdb_threads) == ("2GB", 0)
    assert load_settings(_env(tmp_path, PLATFORM_DUCKDB_THREADS=" 4 ")).duckdb_threads == 4


@pytest.mark.parametrize("raw", ["-1", "two", "1.5", "+2"])
def test_duckdb_threads_that_are_not_a_whole_number_are_refused_naming_the_variable(tmp_path, raw):
    with pytest.raises(ValueError, match=r"^PLATFORM_DUCKDB_THREADS=.*expected a whole number >= 0"):
        load_settings(_env(tmp_path, PLATFORM_DUCKDB_THREADS=raw))


@pytest.mark.parametrize(
    ("field", "value"), [("duckdb_memory_limit", "lots"), ("duckdb_threads", -1), ("auto_spark_min_rows", -5)]
)
def test_explicit_engine_settings_are_validated_too(tmp_path, field, value):
    with pytest.raises(ValueError, match=r"^PLATFORM_(DUCKDB|MODEL_SPARK)_"):
        PlatformSettings(data_dir=tmp_path, **{field: value})


def test_the_training_row_threshold_reaches_the_engine(tmp_path):
    from platform_assets.resources import build_engine

    assert load_settings(_env(tmp_path)).auto_spark_min_rows == 2_000_000
    engine = build_engine(load_settings(_env(tmp_path, PLATFORM_MODEL_SPARK_MIN_ROWS="5000")))
    assert engine.auto_spark_min_rows == 5000
    with pytest.raises(ValueError, match=r"^PLATFORM_MODEL_SPARK_MIN_ROWS='many': expected a whole number"):
        load_settings(_env(tmp_path, PLATFORM_MODEL_SPARK_MIN_ROWS="many"))


def test_the_engine_defaults_agree_with_the_engine_resource():
    from platform_assets.engines.resource import DEFAULT_AUTO_SPARK_MIN_BYTES, DEFAULT_AUTO_SPARK_MIN_ROWS
    from platform_assets.settings import DEFAULT_AUTO_SPARK_MIN_BYTES as BYTES
    from platform_assets.settings import DEFAULT_AUTO_SPARK_MIN_ROWS as ROWS

    assert (BYTES, ROWS) == (DEFAULT_AUTO_SPARK_MIN_BYTES, DEFAULT_AUTO_SPARK_MIN_ROWS)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, "2025-01-01"), ("", "2025-01-01"), (" 2026-03-01 ", "2026-03-01")]
)
def test_the_first_daily_partition_is_read_from_the_environment(tmp_path, raw, expected):
    env = _env(tmp_path) if raw is None else _env(tmp_path, PLATFORM_PARTITIONS_START=raw)
    assert load_settings(env).partitions_start == expected


@pytest.mark.parametrize(
    "raw", ["2026-13-01", "2026-02-30", "2026-1-5", "20260105", "2026/01/05", "yesterday", "2999-01-01"]
)
def test_a_first_daily_partition_that_is_not_a_past_day_is_refused_naming_the_variable(tmp_path, raw):
    with pytest.raises(ValueError, match=r"^PLATFORM_PARTITIONS_START=.*expected a day YYYY-MM-DD, no later"):
        load_settings(_env(tmp_path, PLATFORM_PARTITIONS_START=raw))


@pytest.mark.parametrize("value", [dt.date(2026, 1, 1), 20260101, None])
def test_explicit_settings_validate_the_first_daily_partition_too(tmp_path, value):
    with pytest.raises(ValueError, match="PLATFORM_PARTITIONS_START"):
        PlatformSettings(data_dir=tmp_path, partitions_start=value)
