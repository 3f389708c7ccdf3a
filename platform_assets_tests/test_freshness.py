"""Freshness policies: one on every asset, windows from the environment, bad values refused."""

import datetime as dt

import pytest

from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings


def _fail_windows(environ: dict) -> dict[str, dt.timedelta]:
    defs = build_definitions(load_settings(environ))
    specs = defs.resolve_all_asset_specs()
    # served traffic comes only while a prediction server runs: the experiments layer has no window
    unwatched = {s.key.to_user_string() for s in specs if s.freshness_policy is None}
    assert unwatched == {s.key.to_user_string() for s in specs if s.group_name == "experiments"} != set()
    watched = [s for s in specs if s.freshness_policy]
    return {s.key.to_user_string(): s.freshness_policy.fail_window.to_timedelta() for s in watched}


def test_every_asset_has_its_layers_window(tmp_path):
    windows = _fail_windows({"PLATFORM_DATA_DIR": str(tmp_path)})
    assert windows.pop("models/conversion_model") == dt.timedelta(days=8)
    assert windows.pop("models/champion") == dt.timedelta(days=8)
    assert windows and set(windows.values()) == {dt.timedelta(hours=26)}


def test_windows_come_from_the_environment(tmp_path):
    windows = _fail_windows(
        {
            "PLATFORM_DATA_DIR": str(tmp_path),
            "PLATFORM_FRESHNESS_DAILY_HOURS": "2",
            "PLATFORM_FRESHNESS_MODEL_HOURS": "0.5",
        }
    )
    assert windows.pop("models/conversion_model") == dt.timedelta(minutes=30)
    assert windows.pop("models/champion") == dt.timedelta(minutes=30)
    assert set(windows.values()) == {dt.timedelta(hours=2)}


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "0.01", "soon"])
def test_unusable_windows_are_refused_naming_the_variable(raw):
    with pytest.raises(ValueError, match="PLATFORM_FRESHNESS_DAILY_HOURS"):
        load_settings({"PLATFORM_FRESHNESS_DAILY_HOURS": raw})
    with pytest.raises(ValueError, match="PLATFORM_FRESHNESS_MODEL_HOURS"):
        load_settings({"PLATFORM_FRESHNESS_MODEL_HOURS": raw})
