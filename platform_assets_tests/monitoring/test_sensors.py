"""The monitoring sensors on a real ephemeral instance: which monitoring results ask for retraining,
once, and which days a finished build asks to monitor."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from platform_assets.layers.monitoring.assets import FEATURE_DRIFT, MODEL_PERFORMANCE
from platform_assets.layers.monitoring.sensors import (
    build_retrain_sensor,
    built_days,
    monitor_requests,
    retrain_requests,
)
from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.lib.ml.retraining import RetrainPolicy
from platform_assets.settings import load_settings

POLICY = RetrainPolicy(drift_share=0.5, min_roc_auc=0.6, min_labelled_rows=100)


def register(store: ModelStore, trained_until: str) -> str:
    """A registered, verified version trained on days up to ``trained_until``."""
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    version = store.save(model, {}, pd.DataFrame({"x": [1.0]}), {}, summary={"holdout_end": trained_until})
    return version.version


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    store.set_champion(register(store, "2026-04-10"), {"action": "promote", "reason": "test"})
    return store


def report(instance, asset: dg.AssetKey, day: str, **metadata) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=day, metadata=metadata))


def drift(instance, day: str, share: float, model: str = "v0001") -> None:
    report(instance, FEATURE_DRIFT, day, drift_share=share, drifted_columns=["device"], reference_model=model)


def test_drift_at_the_threshold_asks_once_for_the_newest_day(instance, store):
    drift(instance, "2026-04-11", 0.6)
    drift(instance, "2026-04-12", 0.5)  # exactly the threshold counts
    drift(instance, "2026-04-13", 0.4)
    requests, cursor, notes = retrain_requests(instance, store, POLICY, after=0)
    assert [r.run_key for r in requests] == ["retrain:v0001:2026-04-12"]
    assert requests[0].tags["platform/retrain-reason"] == "feature drift share 0.50 >= 0.50 (device)"
    assert requests[0].run_config == {"ops": {"models__conversion_model": {"config": {"holdout_days": 2}}}}
    assert len(notes) == 2
    again, _, _ = retrain_requests(instance, store, POLICY, after=cursor)
    assert again == []  # consumed


def test_reports_the_champion_cannot_act_on_are_ignored(instance, store):
    drift(instance, "2026-04-09", 0.9)  # a day the champion was trained on
    drift(instance, "2026-04-12", 0.9, model="v0007")  # made against another model
    report(instance, FEATURE_DRIFT, "2026-04-13", skipped_reason="no sessions", reference_model="v0001")
    requests, _, _ = retrain_requests(instance, store, POLICY, after=0)
    assert requests == []


@pytest.mark.parametrize(
    ("auc", "labelled", "asks"),
    [(0.55, 150, True), (0.65, 150, False), (0.55, 50, False), (None, 0, False)],
)
def test_quality_below_the_floor_asks_with_enough_labels(instance, store, auc, labelled, asks):
    metadata = {"labelled_rows": labelled, "reference_model": "v0001"}
    if auc is not None:
        metadata["quality_roc_auc"] = auc
    report(instance, MODEL_PERFORMANCE, "2026-04-12", **metadata)
    requests, _, _ = retrain_requests(instance, store, POLICY, after=0)
    assert bool(requests) is asks
    if asks:
        assert requests[0].tags["platform/retrain-reason"] == "ROC AUC 0.550 < 0.600 on 150 labelled sessions"


def calibration(positives: int, expected: float, variance: float, rows: int, days: list[str]) -> dict:
    """``model_performance``'s pooled calibration numbers for a window of ``days``."""
    return {
        "calibration_window_positives": positives,
        "calibration_window_expected": expected,
        "calibration_window_z": (positives - expected) / variance**0.5,
        "calibration_window_rows": rows,
        "calibration_window_days": days,
    }


@pytest.mark.parametrize(
    ("positives", "labelled", "asks"),
    [(22, 700, True), (48, 700, False), (94, 700, True), (22, 150, False)],
)
def test_a_calibration_change_asks_when_significant_at_the_level(instance, store, positives, labelled, asks):
    # sum p = 70, sum p(1-p) = 63 over two days: z = (22-70)/sqrt(63) = -6.05, (48-70)/sqrt(63) = -2.77
    # (p 0.0056 >= 0.005: not significant at this policy's level), (94-70)/sqrt(63) = +3.02 (p 0.0025)
    policy = RetrainPolicy(min_labelled_rows=200, calibration_alpha=0.005)
    days = ["2026-04-11", "2026-04-12"]
    metadata = {"labelled_rows": labelled, "reference_model": "v0001", "quality_roc_auc": 0.7}
    report(
        instance,
        MODEL_PERFORMANCE,
        "2026-04-12",
        **metadata,
        **calibration(positives, 70.0, 63.0, 1400, days),
    )
    requests, _, _ = retrain_requests(instance, store, policy, after=0)
    assert bool(requests) is asks
    if asks and positives == 22:
        assert requests[0].tags["platform/retrain-reason"] == (
            "calibration: 22 positives vs 70.0 predicted on 1400 labelled sessions (2026-04-11..2026-04-12): "
            "rate 0.016 vs mean prediction 0.050, z -6.05, p 1.5e-09 < 0.005"
        )
    if asks and positives == 94:
        assert "94 positives vs 70.0 predicted" in requests[0].tags["platform/retrain-reason"]


def test_drift_and_calibration_on_one_day_are_both_in_the_tag_whole(instance, store):
    drift(instance, "2026-04-12", 0.9)
    report(
        instance,
        MODEL_PERFORMANCE,
        "2026-04-12",
        labelled_rows=700,
        reference_model="v0001",
        **calibration(22, 70.0, 63.0, 1400, ["2026-04-11", "2026-04-12"]),
    )
    requests, _, _ = retrain_requests(instance, store, POLICY, after=0)
    reason = requests[0].tags["platform/retrain-reason"]
    assert len(reason) > 200 and reason.startswith("feature drift share 0.90") and reason.endswith("< 0.01")


def test_both_quality_triggers_are_named_with_their_numbers():
    metadata = {"labelled_rows": 700, "quality_roc_auc": 0.55, **calibration(22, 70.0, 63.0, 1400, ["d"])}
    reason = RetrainPolicy(min_roc_auc=0.6, min_labelled_rows=200).quality_reason(metadata)
    auc, calibrated = reason.split("; ")
    assert auc == "ROC AUC 0.550 < 0.600 on 700 labelled sessions"
    assert calibrated.startswith("calibration: 22 positives vs 70.0") and calibrated.endswith(
        "p 1.5e-09 < 0.01"
    )


def test_a_full_page_is_consumed_only_as_far_as_both_assets_are_complete(instance, store):
    for i in range(3):
        drift(instance, f"2026-04-1{i + 1}", 0.1)
    report(
        instance,
        MODEL_PERFORMANCE,
        "2026-04-19",
        quality_roc_auc=0.1,
        labelled_rows=500,
        reference_model="v0001",
    )
    requests, cursor, _ = retrain_requests(instance, store, POLICY, after=0, limit=2)
    assert requests == []  # the quality trigger lies after the page: next tick
    requests, _, _ = retrain_requests(instance, store, POLICY, after=cursor, limit=2)
    assert [r.run_key for r in requests] == ["retrain:v0001:2026-04-19"]


def test_no_champion_no_request(instance, tmp_path):
    drift(instance, "2026-04-12", 0.9)
    requests, _, notes = retrain_requests(instance, ModelStore(tmp_path / "empty"), POLICY, after=0)
    assert requests == [] and notes == ["no champion: nothing to compare against"]


def test_the_sensor_waits_while_a_training_run_is_in_flight(instance, store):
    drift(instance, "2026-04-12", 0.9)
    sensor = build_retrain_sensor(store.root, POLICY)
    instance.add_run(
        dg.DagsterRun(job_name="train_model", run_id="r" * 8, status=dg.DagsterRunStatus.STARTED)
    )
    with dg.build_sensor_context(instance=instance) as context:
        result = sensor(context)
    assert not result.run_requests and result.cursor  # consumed: the running challenger answers it


def test_a_finished_build_asks_to_monitor_each_day_it_built(store, tmp_path):
    single = dg.DagsterRun(job_name="build_day", run_id="a" * 8, tags={"dagster/partition": "2026-04-12"})
    ranged = dg.DagsterRun(
        job_name="build_day",
        run_id="b" * 8,
        tags={
            "dagster/asset_partition_range_start": "2026-04-11",
            "dagster/asset_partition_range_end": "2026-04-13",
        },
    )
    assert built_days(single) == ["2026-04-12"]
    assert built_days(ranged) == ["2026-04-11", "2026-04-12", "2026-04-13"]
    requests = monitor_requests(ranged, store)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        (day, f"monitor:{'b' * 8}:{day}") for day in ("2026-04-11", "2026-04-12", "2026-04-13")
    ]
    assert isinstance(monitor_requests(single, ModelStore(tmp_path / "none")), dg.SkipReason)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLATFORM_RETRAIN_DRIFT_SHARE": "0"}, "PLATFORM_RETRAIN_DRIFT_SHARE=0.0"),
        ({"PLATFORM_RETRAIN_MIN_ROC_AUC": "high"}, "PLATFORM_RETRAIN_MIN_ROC_AUC='high'"),
        ({"PLATFORM_RETRAIN_HOLDOUT_DAYS": "0"}, "PLATFORM_RETRAIN_HOLDOUT_DAYS=0"),
        ({"PLATFORM_RETRAIN_CALIBRATION_ALPHA": "0.6"}, "PLATFORM_RETRAIN_CALIBRATION_ALPHA=0.6"),
        ({"PLATFORM_RETRAIN_CALIBRATION_ALPHA": "0"}, "PLATFORM_RETRAIN_CALIBRATION_ALPHA=0.0"),
        ({"PLATFORM_RETRAIN_CALIBRATION_ALPHA": "nan"}, "PLATFORM_RETRAIN_CALIBRATION_ALPHA=nan"),
    ],
)
def test_policy_settings_are_validated(env, message):
    with pytest.raises(ValueError, match=message):
        load_settings(env)
    assert load_settings({"PLATFORM_RETRAIN_DRIFT_SHARE": "0.3"}).retrain.drift_share == 0.3
    assert load_settings({"PLATFORM_RETRAIN_CALIBRATION_ALPHA": "0.05"}).retrain.calibration_alpha == 0.05


def test_the_default_drift_share_is_the_one_the_alarm_was_calibrated_with():
    from platform_assets.lib.ml.drift import DEFAULT_DRIFT_RULE

    assert load_settings({}).retrain.drift_share == DEFAULT_DRIFT_RULE.drift_share


def test_the_run_status_sensor_answers_a_real_build_run(built_platform, tmp_path):
    """``monitor_built_days`` evaluated on the fixture's real build_day range run."""
    from platform_assets.layers.monitoring.sensors import build_monitor_sensor

    build = built_platform.build
    success = next(e for e in build.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
    store = ModelStore(tmp_path / "models")
    sensor = build_monitor_sensor(store.root)

    def evaluate():
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=success,
            dagster_instance=built_platform.instance,
            dagster_run=build.dagster_run,
        )
        return sensor(context)

    assert isinstance(evaluate(), dg.SkipReason)  # no champion yet
    store.set_champion(register(store, "2026-02-28"), {"action": "promote", "reason": "test"})
    requests = evaluate()
    assert [r.partition_key for r in requests] == built_platform.days
    assert {r.run_key for r in requests} == {f"monitor:{build.run_id}:{day}" for day in built_platform.days}
