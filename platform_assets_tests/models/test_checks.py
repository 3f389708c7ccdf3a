"""The promotion gate and the champion's integrity check, through real ``train_model`` runs."""

import json

import dagster as dg

from platform_assets.definitions import build_definitions
from platform_assets.layers.models.checks import files_match_registry
from platform_assets.settings import PlatformSettings, QualitySettings
from platform_assets_tests.checks_support import check_run, evaluations, materialized, values

SMALL_DATA = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}
GATE = ("beats_baseline", "metric_floor", "beats_champion")


def train(defs, instance, config: dict | None = None) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {"models__conversion_model": {"config": {"min_rows": 100, **(config or {})}}}}
    return defs.resolve_job_def("train_model").execute_in_process(
        instance=instance, run_config=run_config, raise_on_error=False
    )


def test_a_first_good_model_passes_the_gate_and_becomes_champion(platform_copy):
    result = train(platform_copy.defs, platform_copy.instance)
    assert result.success
    checks = evaluations(result)
    assert all(checks[f"models/conversion_model:{name}"].passed for name in GATE)
    assert checks["models/champion:files_match_registry"].passed
    assert materialized(result) >= {"models/conversion_model", "models/champion"}
    registry = json.loads((platform_copy.layout.models / "registry.json").read_text())
    assert registry["champion"] == "v0001"
    card = json.loads((platform_copy.layout.models / "v0001" / "card.json").read_text())
    floor = values(checks["models/conversion_model:metric_floor"])
    assert floor["roc_auc"] == card["metrics"]["model"]["roc_auc"] >= QualitySettings().model_min_roc_auc
    assert [d["action"] for d in registry["decisions"]] == ["promote"]


def test_a_failed_gate_blocks_the_champion_and_records_why(platform_copy):
    assert train(platform_copy.defs, platform_copy.instance).success  # v0001 is champion
    strict = build_definitions(
        PlatformSettings(data_dir=platform_copy.root, quality=QualitySettings(model_min_roc_auc=0.99))
    )
    result = train(strict, platform_copy.instance, {"seed": 3})
    assert not result.success  # a blocking check failed: the run says so
    floor = evaluations(result)["models/conversion_model:metric_floor"]
    assert not floor.passed and floor.severity == dg.AssetCheckSeverity.ERROR
    assert "is below the floor 0.9900" in floor.description
    assert "models/champion" not in materialized(result)  # blocked
    registry = json.loads((platform_copy.layout.models / "registry.json").read_text())
    assert registry["champion"] == "v0001"
    kept = registry["decisions"][-1]
    assert kept["action"] == "keep" and kept["challenger"] == "v0002" and kept["champion"] == "v0001"
    assert kept["gates"]["metric_floor"]["passed"] is False and "below the floor" in kept["reason"]
    # both scores on the same rows are on record
    assert kept["challenger_scores"]["rows"] == kept["champion_scores"]["rows"] == kept["holdout"]["rows"]


def test_the_same_model_retrained_does_not_replace_the_champion(platform_copy):
    assert train(platform_copy.defs, platform_copy.instance).success
    again = train(platform_copy.defs, platform_copy.instance)  # same data, same seed: same scores
    beats = evaluations(again)["models/conversion_model:beats_champion"]
    assert not again.success and not beats.passed
    assert values(beats)["challenger_score"] == values(beats)["champion_score"]
    assert "not better by 0.0000" in beats.description


def test_an_altered_champion_fails_its_integrity_check(platform_copy):
    assert train(platform_copy.defs, platform_copy.instance).success
    model = platform_copy.layout.models / "v0001" / "model.skops"
    model.write_bytes(model.read_bytes()[:-1])
    with check_run(platform_copy.defs, platform_copy.instance) as run:
        result = files_match_registry.evaluate(run, "")
    assert not result.passed and "does not match its registered sha256" in result.description
