"""The whole platform: every layer's assets and checks, jobs, and resources for the environment."""

from __future__ import annotations

from dataclasses import asdict

import dagster as dg

from platform_assets.layers.common.freshness import with_freshness
from platform_assets.layers.common.jobs import JOBS
from platform_assets.layers.common.partitions import event_days_from, with_event_days
from platform_assets.layers.experiments.assets import ab_results, decisions_ingest, deployment
from platform_assets.layers.experiments.checks import ab_checks, decision_checks, deployment_checks
from platform_assets.layers.experiments.sensors import build_decision_days_sensor, build_experiment_sensor
from platform_assets.layers.features.assets import feature_assets
from platform_assets.layers.features.checks import feature_checks
from platform_assets.layers.lake.assets import lake_ingest
from platform_assets.layers.lake.checks import lake_checks
from platform_assets.layers.lake.sensors import build_lake_days_sensor
from platform_assets.layers.models.assets import champion, conversion_model
from platform_assets.layers.models.checks import model_checks
from platform_assets.layers.monitoring.assets import feature_drift, model_performance
from platform_assets.layers.monitoring.checks import monitoring_checks
from platform_assets.layers.monitoring.sensors import build_monitor_sensor, build_retrain_sensor
from platform_assets.layers.predictions.assets import session_predictions
from platform_assets.layers.predictions.checks import prediction_checks
from platform_assets.layers.raw.assets import raw_log_files
from platform_assets.layers.raw.checks import raw_checks
from platform_assets.layers.raw.sensors import build_landing_files_sensor
from platform_assets.layers.warehouse.assets import mart_assets
from platform_assets.layers.warehouse.checks import warehouse_checks
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.ml.retraining import RetrainPolicy
from platform_assets.resources import build_resources
from platform_assets.settings import PlatformSettings, load_settings


def with_engine_kinds(assets: list[dg.AssetsDefinition], engine: str) -> list[dg.AssetsDefinition]:
    """Assets that can run on either engine (their kinds name ``spark``) show the configured one:
    ``duckdb`` drops the ``spark`` kind, ``spark`` the ``duckdb`` kind, ``auto`` keeps both. Kinds
    are static; each materialization records the engine that actually ran (``engine``)."""
    if engine == "auto":
        return assets
    other = "spark" if engine == "duckdb" else "duckdb"

    def configured(spec: dg.AssetSpec) -> dg.AssetSpec:
        if "spark" not in spec.kinds or other not in spec.kinds:
            return spec
        return spec.replace_attributes(kinds=spec.kinds - {other})

    return list(dg.map_asset_specs(configured, assets))


def build_definitions(settings: PlatformSettings) -> dg.Definitions:
    """Definitions for explicit settings (tests and the CLI call this directly)."""
    interval = settings.sensor_interval_seconds
    models = DataLayout(settings.data_dir).models
    # one daily partitions definition, from the configured start, for the assets and the sensors
    days = event_days_from(settings.partitions_start)
    return dg.Definitions(
        assets=with_freshness(
            with_engine_kinds(
                with_event_days(
                    [
                        raw_log_files,
                        lake_ingest,
                        *mart_assets,
                        *feature_assets,
                        conversion_model,
                        champion,
                        session_predictions,
                        feature_drift,
                        model_performance,
                        deployment,
                        decisions_ingest,
                        ab_results,
                    ],
                    days,
                ),
                settings.engine,
            ),
            settings.freshness,
        ),
        asset_checks=[
            raw_checks,
            lake_checks,
            warehouse_checks,
            feature_checks,
            model_checks,
            prediction_checks,
            monitoring_checks,
            deployment_checks,
            decision_checks,
            ab_checks,
        ],
        jobs=JOBS,
        sensors=[
            build_landing_files_sensor(minimum_interval_seconds=interval),
            build_lake_days_sensor(partitions=days, minimum_interval_seconds=interval),
            build_monitor_sensor(models, minimum_interval_seconds=interval, partitions=days),
            build_retrain_sensor(
                models, RetrainPolicy(**asdict(settings.retrain)), minimum_interval_seconds=interval
            ),
            build_decision_days_sensor(minimum_interval_seconds=interval),
            build_experiment_sensor(models, minimum_interval_seconds=interval),
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
