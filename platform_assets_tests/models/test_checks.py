"""models/conversion_model:metric_floor on a real training run over the built generated days."""

import json

import dagster as dg

from platform_assets.layers.models.checks import metric_floor
from platform_assets.quality import CheckRun, QualityThresholds
from platform_assets_tests.checks_support import check_run, evaluations, failing, values

SMALL_DATA = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}


def test_the_metric_floor_passes_a_good_model_and_fails_below_a_raised_floor(built_platform):
    result = built_platform.defs.resolve_job_def("train_model").execute_in_process(
        instance=built_platform.instance, run_config=SMALL_DATA, raise_on_error=False
    )
    assert result.success and failing(result) == {}
    floor = values(evaluations(result)["models/conversion_model:metric_floor"])
    card = json.loads((built_platform.layout.models / floor["model_version"] / "card.json").read_text())
    assert floor["roc_auc"] == card["metrics"]["model"]["roc_auc"] >= QualityThresholds().model_min_roc_auc

    with check_run(built_platform.defs, built_platform.instance) as run:
        strict = CheckRun(run.engine, QualityThresholds(model_min_roc_auc=0.99), run.storage, run.instance)
        raised = metric_floor.evaluate(strict, "")
    assert not raised.passed and raised.severity == dg.AssetCheckSeverity.ERROR
    assert metric_floor.spec.blocking  # so a training run below the floor fails and stops what follows
    assert values(raised)["roc_auc"] == floor["roc_auc"] and values(raised)["min_roc_auc"] == 0.99
    assert raised.description == f"holdout ROC AUC {floor['roc_auc']:.3f} is below the floor 0.990"
