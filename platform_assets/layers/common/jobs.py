"""The platform's jobs: what the sensors request and what the CLI and the UI launch by name."""

import dagster as dg

ingest_job = dg.define_asset_job(
    "ingest_log_file",
    selection=dg.AssetSelection.groups("raw", "lake"),
    description="Register one landed file and parse it into the lake.",
)
build_day_job = dg.define_asset_job(
    "build_day",
    selection=dg.AssetSelection.groups("warehouse", "features"),
    description="Build one day's marts and features from the lake.",
)
train_job = dg.define_asset_job(
    "train_model",
    selection=dg.AssetSelection.groups("models"),
    description="Train a challenger on the feature days, compare it with the champion on the same "
    "held-out rows, and promote it if it passes every gate.",
)
monitor_day_job = dg.define_asset_job(
    "monitor_day",
    selection=dg.AssetSelection.groups("predictions", "monitoring"),
    description="Score one day with the champion, then its feature-drift and model-performance reports.",
)

JOBS = [ingest_job, build_day_job, train_job, monitor_day_job]
