"""The platform's jobs: what the sensors request and what the CLI and the UI launch by name."""

import dagster as dg

from platform_assets.layers.common.names import (
    AB_RESULTS_JOB,
    BUILD_DAY_JOB,
    EXPERIMENTS_GROUP,
    FEATURES_GROUP,
    INGEST_DECISIONS_JOB,
    INGEST_JOB,
    LAKE_GROUP,
    MODELS_GROUP,
    MONITOR_DAY_JOB,
    MONITORING_GROUP,
    PREDICTIONS_GROUP,
    PROMOTE_JOB,
    RAW_GROUP,
    TRAIN_JOB,
    WAREHOUSE_GROUP,
)

_DECISIONS = dg.AssetKey([EXPERIMENTS_GROUP, "decisions"])
_AB_RESULTS = dg.AssetKey([EXPERIMENTS_GROUP, "ab_results"])

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
    selection=dg.AssetSelection.groups(PREDICTIONS_GROUP, MONITORING_GROUP)
    | dg.AssetSelection.assets(_AB_RESULTS),
    description="Score one day with the champion, then its feature-drift and model-performance reports "
    "and the A/B results of the experiments that answered that day.",
)
# the experiments layer's own keys, named here so jobs need not import the layer
ingest_decisions_job = dg.define_asset_job(
    INGEST_DECISIONS_JOB,
    selection=dg.AssetSelection.assets(
        dg.AssetKey(["raw", "log_files"]), _DECISIONS, dg.AssetKey([EXPERIMENTS_GROUP, "decision_quarantine"])
    ),
    description="Register one decision-log file the prediction server landed and parse it into the "
    "decision lake.",
)
ab_results_job = dg.define_asset_job(
    AB_RESULTS_JOB,
    selection=dg.AssetSelection.assets(_AB_RESULTS),
    description="Judge the experiments that answered on one day (their A/B results).",
)
promote_job = dg.define_asset_job(
    PROMOTE_JOB,
    selection=dg.AssetSelection.assets(dg.AssetKey([MODELS_GROUP, "champion"])),
    description="Make a version the champion through models/champion's gate (run config: version, reason).",
)

JOBS = [
    ingest_job,
    build_day_job,
    train_job,
    monitor_day_job,
    ingest_decisions_job,
    ab_results_job,
    promote_job,
]
