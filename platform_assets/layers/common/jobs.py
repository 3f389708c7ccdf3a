"""The platform's jobs: what the sensors request and what the CLI and the UI launch by name."""

import dagster as dg

from platform_assets.layers.common.names import (
    BUILD_DAY_JOB,
    FEATURES_GROUP,
    INGEST_JOB,
    LAKE_GROUP,
    MODELS_GROUP,
    MONITOR_DAY_JOB,
    MONITORING_GROUP,
    PREDICTIONS_GROUP,
    RAW_GROUP,
    TRAIN_JOB,
    WAREHOUSE_GROUP,
)

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.groups(RAW_GROUP, LAKE_GROUP),
    description="Register one landed file and parse it into the lake.",
)
build_day_job = dg.define_asset_job(
    BUILD_DAY_JOB,
    selection=dg.AssetSelection.groups(WAREHOUSE_GROUP, FEATURES_GROUP),
    description="Build one day's marts and features from the lake.",
)
train_job = dg.define_asset_job(
    TRAIN_JOB,
    selection=dg.AssetSelection.groups(MODELS_GROUP),
    description="Train a challenger on the feature days, compare it with the champion on the same "
    "held-out rows, and promote it if it passes every gate.",
)
monitor_day_job = dg.define_asset_job(
    MONITOR_DAY_JOB,
    selection=dg.AssetSelection.groups(PREDICTIONS_GROUP, MONITORING_GROUP),
    description="Score one day with the champion, then its feature-drift and model-performance reports.",
)

JOBS = [ingest_job, build_day_job, train_job, monitor_day_job]
