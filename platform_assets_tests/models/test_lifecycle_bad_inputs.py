"""Bad input to the ML lifecycle: each gives a clear failure or a recorded skip, never a silently
wrong model (training windows that cannot train, a day with no traffic, a damaged registry)."""

import json

import dagster as dg
import duckdb
import pytest

from platform_assets_tests.checks_support import evaluations, materialized, values

NO_TRAFFIC_DAY = "2026-03-20"  # after the four built days: nothing landed for it


def train(copy, **config) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {"models__conversion_model": {"config": {"min_rows": 100, **config}}}}
    return copy.defs.resolve_job_def("train_model").execute_in_process(
        instance=copy.instance, run_config=run_config, raise_on_error=False
    )


def monitor(copy, day: str) -> dg.ExecuteInProcessResult:
    return copy.defs.resolve_job_def("monitor_day").execute_in_process(
        partition_key=day, instance=copy.instance, raise_on_error=False
    )


def step_errors(result: dg.ExecuteInProcessResult) -> str:
    return " | ".join(
        e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.event_specific_data.error
    )


def edit_features(copy, sql: str) -> None:
    con = duckdb.connect(str(copy.layout.warehouse_db))
    con.execute(sql)
    con.close()


def registry(copy) -> dict:
    path = copy.layout.models / "registry.json"
    return json.loads(path.read_text()) if path.exists() else {"versions": []}


@pytest.mark.parametrize(
    ("edit", "config", "message"),
    [
        (None, {"min_rows": 1_000_000}, "too few rows to train"),
        ("UPDATE session_features SET label = 0", {}, "single class"),
        ("UPDATE session_features SET country = NULL", {}, "feature columns entirely null: ['country']"),
    ],
    ids=["too-few-rows", "single-class", "all-null-column"],
)
def test_a_window_that_cannot_train_fails_clearly_and_registers_nothing(platform_copy, edit, config, message):
    if edit:
        edit_features(platform_copy, edit)
    result = train(platform_copy, **config)
    assert not result.success
    assert message in step_errors(result)
    assert registry(platform_copy)["versions"] == [] and "models/champion" not in materialized(result)


def test_a_day_without_traffic_is_a_recorded_skip(platform_copy):
    assert train(platform_copy).success
    result = monitor(platform_copy, NO_TRAFFIC_DAY)
    assert result.success, step_errors(result)
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    predictions = {
        k: v.value for k, v in events["predictions/session_predictions"].materialization.metadata.items()
    }
    assert predictions["dagster/row_count"] == 0 and "no sessions" in predictions["skipped_reason"]
    for asset in ("monitoring/feature_drift", "monitoring/model_performance"):
        metadata = {k: v.value for k, v in events[asset].materialization.metadata.items()}
        assert "no " in metadata["skipped_reason"] and NO_TRAFFIC_DAY in metadata["skipped_reason"]
        check = evaluations(result)[f"{asset}:report_well_formed"]
        assert check.passed and values(check)["skipped_reason"] == metadata["skipped_reason"]
    assert not list((platform_copy.layout.reports).rglob(f"date={NO_TRAFFIC_DAY}/*.html"))


def test_monitoring_before_any_champion_fails_clearly(platform_copy):
    result = monitor(platform_copy, platform_copy.days[-1])
    assert not result.success
    assert "no champion model: materialize models/conversion_model and models/champion first" in step_errors(
        result
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [("missing", "model.skops is missing"), ("altered", "does not match its registered sha256")],
)
def test_a_damaged_champion_is_refused_by_scoring_and_by_its_check(platform_copy, damage, message):
    assert train(platform_copy).success
    model = platform_copy.layout.models / "v0001" / "model.skops"
    if damage == "missing":
        model.unlink()
    else:
        data = model.read_bytes()
        model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the last byte
    result = monitor(platform_copy, platform_copy.days[-1])
    assert not result.success
    assert "the champion v0001 cannot be used" in step_errors(result) and message in step_errors(result)
    assert "predictions/session_predictions" not in materialized(result)

    retrained = train(platform_copy, seed=1)  # a challenger cannot be compared with a damaged champion
    gate = evaluations(retrained)["models/conversion_model:beats_champion"]
    assert not gate.passed and "the champion v0001 cannot be scored" in gate.description
    assert registry(platform_copy)["champion"] == "v0001"
    assert registry(platform_copy)["decisions"][-1]["action"] == "keep"
    champion_check = evaluations(retrained).get("models/champion:files_match_registry")
    assert champion_check is None or not champion_check.passed  # blocked, or failed if it ran


def test_an_altered_training_reference_is_refused_by_the_drift_report(platform_copy):
    assert train(platform_copy).success
    reference = platform_copy.layout.models / "v0001" / "reference.parquet"
    reference.write_bytes(reference.read_bytes() + b"\0")
    result = monitor(platform_copy, platform_copy.days[-1])
    assert not result.success
    assert "reference.parquet does not match its registered sha256" in step_errors(result)
