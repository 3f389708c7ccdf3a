"""Settings from the environment: the sensor tick interval and where it ends up."""

import pytest

from platform_assets.definitions import build_definitions
from platform_assets.settings import PlatformSettings, load_settings

SENSORS = ("landing_files_sensor", "lake_days_sensor", "monitor_built_days", "retrain_on_drift")


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
