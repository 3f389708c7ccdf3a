"""The whole platform: every layer's assets and checks, jobs, and resources for the environment."""

from __future__ import annotations

import dagster as dg

from platform_assets.freshness import with_freshness
from platform_assets.layers.features.assets import feature_assets
from platform_assets.layers.features.checks import feature_checks
from platform_assets.layers.lake.assets import lake_ingest
from platform_assets.layers.lake.checks import lake_checks
from platform_assets.layers.lake.sensors import build_lake_days_sensor
from platform_assets.layers.models.assets import conversion_model
from platform_assets.layers.models.checks import model_checks
from platform_assets.layers.monitoring.assets import feature_drift
from platform_assets.layers.monitoring.checks import monitoring_checks
from platform_assets.layers.raw.assets import raw_log_files
from platform_assets.layers.raw.checks import raw_checks
from platform_assets.layers.raw.sensors import build_landing_files_sensor
from platform_assets.layers.warehouse.assets import mart_assets
from platform_assets.layers.warehouse.checks import warehouse_checks
from platform_assets.resources import build_resources
from platform_assets.settings import PlatformSettings, load_settings

ingest_job = dg.define_asset_job(
    "ingest_log_file",
    selection=dg.AssetSelection.groups("raw", "lake"),
    description="Register one landed file and parse it into the lake.",
)
train_job = dg.define_asset_job(
    "train_model",
    selection=dg.AssetSelection.groups("models"),
    description="Train, evaluate and register a new conversion model on all feature days.",
)
monitor_day_job = dg.define_asset_job(
    "monitor_day",
    selection=dg.AssetSelection.groups("monitoring"),
    description="Drift report of one day's features against the current model's training data.",
)
build_day_job = dg.define_asset_job(
    "build_day",
    selection=dg.AssetSelection.groups("warehouse", "features"),
    description="Build one day's marts and features from the lake.",
)


def build_definitions(settings: PlatformSettings) -> dg.Definitions:
    """Definitions for explicit settings (tests and the CLI call this directly)."""
    return dg.Definitions(
        assets=with_freshness(
            [raw_log_files, lake_ingest, *mart_assets, *feature_assets, conversion_model, feature_drift],
            settings.freshness,
        ),
        asset_checks=[
            raw_checks,
            lake_checks,
            warehouse_checks,
            feature_checks,
            model_checks,
            monitoring_checks,
        ],
        jobs=[ingest_job, build_day_job, train_job, monitor_day_job],
        sensors=[
            build_landing_files_sensor(minimum_interval_seconds=settings.sensor_interval_seconds),
            build_lake_days_sensor(minimum_interval_seconds=settings.sensor_interval_seconds),
        ],
        resources=build_resources(settings),
        # DuckDB already uses every core inside a step, and one process may write the warehouse
        # at a time: steps of a run execute in its own process, one after the other.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by ``dagster dev`` / ``dagster ... -m platform_assets``: settings from the environment."""
    return build_definitions(load_settings())
