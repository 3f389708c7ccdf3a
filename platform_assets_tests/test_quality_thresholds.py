"""Asset-check thresholds from the environment: defaults, parsing and validation."""

from dataclasses import asdict

import pytest

from platform_assets.layers.common.thresholds import QualityThresholds
from platform_assets.settings import PlatformSettings, QualitySettings, load_settings

DEFAULTS = {
    "quarantine_warn_share": 0.01,
    "quarantine_error_share": 0.25,
    "future_tolerance_hours": 24.0,
    "hourly_5xx_share": 0.5,
    "hourly_5xx_min_requests": 20,
    "model_min_roc_auc": 0.55,
}


def test_defaults_when_nothing_is_set(tmp_path):
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path)})
    assert asdict(settings.quality) == DEFAULTS
    assert asdict(PlatformSettings(data_dir=tmp_path).quality) == DEFAULTS
    assert QualityThresholds().model_dump() == DEFAULTS  # the resource's own defaults agree


def test_each_threshold_is_read_from_its_variable(tmp_path):
    env = {
        "PLATFORM_DATA_DIR": str(tmp_path),
        "PLATFORM_QUARANTINE_WARN_SHARE": "0.05",
        "PLATFORM_QUARANTINE_ERROR_SHARE": " 0.6 ",
        "PLATFORM_FUTURE_TOLERANCE_HOURS": "2.5",
        "PLATFORM_HOURLY_5XX_SHARE": "0.3",
        "PLATFORM_HOURLY_5XX_MIN_REQUESTS": "100",
        "PLATFORM_MODEL_MIN_ROC_AUC": "",  # blank keeps the default
    }
    assert asdict(load_settings(env).quality) == {
        **DEFAULTS,
        "quarantine_warn_share": 0.05,
        "quarantine_error_share": 0.6,
        "future_tolerance_hours": 2.5,
        "hourly_5xx_share": 0.3,
        "hourly_5xx_min_requests": 100,
    }


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PLATFORM_QUARANTINE_WARN_SHARE", "abc", "expected a number"),
        ("PLATFORM_QUARANTINE_WARN_SHARE", "1.5", "between 0 and 1"),
        ("PLATFORM_QUARANTINE_ERROR_SHARE", "nan", "between 0 and 1"),
        ("PLATFORM_QUARANTINE_ERROR_SHARE", "0.005", "must be below"),
        ("PLATFORM_FUTURE_TOLERANCE_HOURS", "-1", "hours >= 0"),
        ("PLATFORM_HOURLY_5XX_MIN_REQUESTS", "2.5", "expected an integer"),
        ("PLATFORM_HOURLY_5XX_MIN_REQUESTS", "0", "integer >= 1"),
        ("PLATFORM_MODEL_MIN_ROC_AUC", "-0.1", "between 0 and 1"),
    ],
)
def test_invalid_thresholds_are_refused_naming_the_variable(tmp_path, variable, raw, message):
    with pytest.raises(ValueError, match=f"(?s)(?=.*{variable})(?=.*{message})"):
        load_settings({"PLATFORM_DATA_DIR": str(tmp_path), variable: raw})


def test_thresholds_become_the_quality_resource(tmp_path):
    from platform_assets.resources import build_resources

    quality = QualitySettings(quarantine_error_share=0.4)
    resources = build_resources(PlatformSettings(data_dir=tmp_path, quality=quality))
    assert isinstance(resources["quality"], QualityThresholds)
    assert resources["quality"].quarantine_error_share == 0.4


def test_explicit_thresholds_are_validated_too():
    with pytest.raises(ValueError, match="PLATFORM_HOURLY_5XX_SHARE=2"):
        QualityThresholds(hourly_5xx_share=2)
