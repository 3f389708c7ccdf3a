"""Names the platform's parts call one another by, defined once: jobs, groups, sensors.

Plain strings (no Dagster here), so the CLI can name a job without loading the definitions.
"""

# Jobs (``jobs.py`` says what each one selects): what sensors request and the CLI launches.
INGEST_JOB = "ingest_log_file"
INGEST_DECISIONS_JOB = "ingest_decision_log"
BUILD_DAY_JOB = "build_day"
TRAIN_JOB = "train_model"
MONITOR_DAY_JOB = "monitor_day"
AB_RESULTS_JOB = "judge_experiments"
PROMOTE_JOB = "promote_champion"

# Asset groups: one per layer, and the first part of each of its asset keys.
RAW_GROUP = "raw"
LAKE_GROUP = "lake"
WAREHOUSE_GROUP = "warehouse"
FEATURES_GROUP = "features"
MODELS_GROUP = "models"
PREDICTIONS_GROUP = "predictions"
MONITORING_GROUP = "monitoring"
EXPERIMENTS_GROUP = "experiments"

# Sensors.
LANDING_FILES_SENSOR = "landing_files_sensor"
LAKE_DAYS_SENSOR = "lake_days_sensor"
MONITOR_SENSOR = "monitor_built_days"
RETRAIN_SENSOR = "retrain_on_drift"
DECISION_DAYS_SENSOR = "decision_days_sensor"
EXPERIMENT_SENSOR = "experiment_decider"

# The dynamic partitions of landed files (one per file, keyed by its path under landing).
LOG_FILES_PARTITIONS = "log_files"

# The op of ``models/conversion_model``: run config sets its options under ``ops.<this>.config``.
CONVERSION_MODEL_OP = "models__conversion_model"

# Run tags the platform sets and reads.
SHA256_TAG = "platform/sha256"  # the content of the landed file an ingest run reads
RETRAIN_REASON_TAG = "platform/retrain-reason"  # why the retraining sensor asked for a model
TRIGGER_DAY_TAG = "platform/trigger-day"  # the monitored day that asked for it
CHAMPION_TAG = "platform/champion"  # the champion the trigger was measured against
ENGINE_TAG = "platform/engine"  # the engine that wrote a materialization
# Dagster's own: a run's partition, or the first and last of its range.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
