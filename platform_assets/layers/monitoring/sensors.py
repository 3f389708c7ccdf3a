"""Monitoring sensors: score and monitor each built day, and retrain when the world changes.

``monitor_built_days`` (a run-status sensor): when a ``build_day`` run succeeds and a champion
exists, it requests ``monitor_day`` for each day that run built. ``retrain_on_drift`` requests one
``train_model`` run when, on a day the champion was not trained on, the share of drifted feature
columns reaches ``retrain_drift_share`` or, with enough labels, the day's ROC AUC falls below
``retrain_min_roc_auc`` or its positives (pooled with the day before) differ from the champion's
predicted count by more than chance (``retrain_calibration_alpha``); its challenger must still pass
the promotion gate.

Design notes: docs/design/days_and_monitor_sensors.md
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from platform_assets.layers.common.cursors import read_cursor, write_cursor
from platform_assets.layers.common.jobs import build_day_job, monitor_day_job, train_job
from platform_assets.layers.common.names import (
    CHAMPION_TAG,
    CONVERSION_MODEL_OP,
    MONITOR_SENSOR,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    RETRAIN_REASON_TAG,
    RETRAIN_SENSOR,
    TRAIN_JOB,
    TRIGGER_DAY_TAG,
)
from platform_assets.layers.common.partitions import event_days
from platform_assets.layers.monitoring.assets import FEATURE_DRIFT, MODEL_PERFORMANCE
from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.lib.ml.retraining import RetrainPolicy

_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


# A run tag holds the whole reason (drift and calibration together run to about 300 characters);
# the bound only keeps a pathological metadata value from making a huge tag.
MAX_REASON_CHARS = 2000


def _metadata(record: dg.EventLogRecord) -> dict:
    materialization = record.asset_materialization
    return {k: v.value for k, v in materialization.metadata.items()} if materialization else {}


def retrain_requests(
    instance: dg.DagsterInstance, store: ModelStore, policy: RetrainPolicy, after: int, limit: int = 500
) -> tuple[list[dg.RunRequest], int, list[str]]:
    """Run requests for the triggers among monitoring materializations after ``after``, the new
    cursor, and what was seen (for the tick's log)."""
    records: list[tuple[dg.AssetKey, dg.EventLogRecord]] = []
    full: list[int] = []  # the last storage id of each asset that returned a whole page
    for key in (FEATURE_DRIFT, MODEL_PERFORMANCE):
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=limit, ascending=True
        ).records
        records += [(key, r) for r in found]
        if len(found) == limit:
            full.append(found[-1].storage_id)
    if full:  # consume up to where every asset's records are complete; the rest next tick
        records = [(k, r) for k, r in records if r.storage_id <= min(full)]
    records.sort(key=lambda pair: pair[1].storage_id)
    cursor = max((r.storage_id for _, r in records), default=after)
    champion = store.champion()
    if champion is None:
        return [], cursor, ["no champion: nothing to compare against"]
    trained_until = str(store.entry(champion.version).get("holdout_end") or "")
    triggers: dict[str, list[str]] = {}
    notes = []
    for key, record in records:
        metadata, day = _metadata(record), record.partition_key or ""
        if metadata.get("reference_model") != champion.version or metadata.get("skipped_reason"):
            continue  # monitored against an older champion, or nothing to monitor that day
        if day <= trained_until:
            continue  # the champion has seen that day
        reason = policy.drift_reason(metadata) if key == FEATURE_DRIFT else policy.quality_reason(metadata)
        if reason:
            triggers.setdefault(day, []).append(reason)
            notes.append(f"{day}: {reason}")
    if not triggers:
        return [], cursor, notes
    day = max(triggers)
    reason = "; ".join(triggers[day])
    request = dg.RunRequest(
        run_key=f"retrain:{champion.version}:{day}",
        run_config={"ops": {CONVERSION_MODEL_OP: {"config": {"holdout_days": policy.holdout_days}}}},
        tags={
            RETRAIN_REASON_TAG: reason[:MAX_REASON_CHARS],
            TRIGGER_DAY_TAG: day,
            CHAMPION_TAG: champion.version,
        },
    )
    return [request], cursor, notes


def build_retrain_sensor(
    models_root: Path, policy: RetrainPolicy, minimum_interval_seconds: int = 30
) -> dg.SensorDefinition:
    """The ``retrain_on_drift`` sensor over the model store at ``models_root`` (built in
    ``definitions.py`` from settings)."""

    @dg.sensor(
        name=RETRAIN_SENSOR,
        job=train_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests train_model when a monitored day drifts past PLATFORM_RETRAIN_DRIFT_SHARE, "
        "its ROC AUC falls below PLATFORM_RETRAIN_MIN_ROC_AUC or its count of conversions departs from "
        "the champion's predicted count (two-sided test at PLATFORM_RETRAIN_CALIBRATION_ALPHA, the day "
        "pooled with the day before); the challenger must still pass the promotion gate.",
    )
    def retrain_on_drift(context: dg.SensorEvaluationContext):
        store = ModelStore(models_root)
        requests, cursor, notes = retrain_requests(
            context.instance, store, policy, read_cursor(context.cursor)
        )
        for note in notes:
            context.log.info(note)
        if requests and _training_in_flight(context.instance):
            context.log.info("a train_model run is queued or running: its challenger answers these triggers")
            requests = []
        if not requests:
            return dg.SensorResult(skip_reason="no retraining trigger", cursor=write_cursor(cursor))
        return dg.SensorResult(run_requests=requests, cursor=write_cursor(cursor))

    return retrain_on_drift


def _training_in_flight(instance: dg.DagsterInstance) -> bool:
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=TRAIN_JOB, statuses=_IN_FLIGHT), limit=1))


def built_days(run: dg.DagsterRun, partitions: dg.DailyPartitionsDefinition = event_days) -> list[str]:
    """The days a ``build_day`` run built: its partition, or every day of its range (of ``partitions``)."""
    tags = run.tags
    if tags.get(PARTITION_TAG):
        return [tags[PARTITION_TAG]]
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if first and last:
        return list(partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
    return []


def monitor_requests(
    run: dg.DagsterRun, store: ModelStore, partitions: dg.DailyPartitionsDefinition = event_days
) -> Sequence[dg.RunRequest] | dg.SkipReason:
    """One ``monitor_day`` request per day a successful ``build_day`` run built."""
    if store.champion() is None:
        return dg.SkipReason("no champion yet: days are monitored once a model is promoted")
    return [
        dg.RunRequest(run_key=f"monitor:{run.run_id}:{day}", partition_key=day)
        for day in built_days(run, partitions)
    ]


def build_monitor_sensor(
    models_root: Path,
    minimum_interval_seconds: int = 30,
    partitions: dg.DailyPartitionsDefinition = event_days,
) -> dg.SensorDefinition:
    """The ``monitor_built_days`` run-status sensor over the model store at ``models_root``, for
    the days of ``partitions`` (the definitions pass the ones their daily assets use)."""

    @dg.run_status_sensor(
        name=MONITOR_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[build_day_job],
        request_job=monitor_day_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Scores and monitors (monitor_day) every day a build_day run built, once a "
        "champion exists.",
    )
    def monitor_built_days(context: dg.RunStatusSensorContext):
        return monitor_requests(context.dagster_run, ModelStore(models_root), partitions)

    return monitor_built_days
