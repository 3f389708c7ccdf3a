"""monitoring/feature_drift:report_well_formed on a real drift run, then on a damaged report."""

import dagster as dg

from platform_assets.layers.common.metadata import latest_metadata
from platform_assets.layers.monitoring.assets import FEATURE_DRIFT
from platform_assets.layers.monitoring.checks import drift_report_problems, report_well_formed
from platform_assets_tests.checks_support import check_run, evaluations, values

SMALL_DATA = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}


def test_the_drift_report_is_checked_and_a_damaged_one_fails(platform_copy):
    defs, instance, day = platform_copy.defs, platform_copy.instance, platform_copy.days[-1]
    trained = defs.resolve_job_def("train_model").execute_in_process(instance=instance, run_config=SMALL_DATA)
    assert trained.success
    result = defs.resolve_job_def("monitor_day").execute_in_process(partition_key=day, instance=instance)
    assert result.success
    for asset in ("feature_drift", "model_performance"):
        check = evaluations(result)[f"monitoring/{asset}:report_well_formed"]
        assert check.passed and values(check)["problems"] == []

    recorded = latest_metadata(instance, FEATURE_DRIFT, day)
    with open(recorded["report_json"], "w") as f:
        f.write('{"metrics": [')  # cut short
    with check_run(defs, instance) as run:
        damaged = report_well_formed.evaluate(run, day)
    assert not damaged.passed and damaged.severity == dg.AssetCheckSeverity.ERROR
    assert values(damaged)["problems"][0].startswith("report_json is not JSON")
    inconsistent = {**recorded, "report_json": recorded["report_html"], "n_drifted_columns": -1}
    assert [p.split(" ")[0] for p in drift_report_problems(inconsistent)] == [
        "report_json",
        "n_drifted_columns",
    ]
    assert drift_report_problems({}) == [
        "report_html missing or empty: None",
        "report_json missing or empty: None",
        "drift_share None is not between 0 and 1",
        "n_drifted_columns None != len(None)",
        "dataset_drift is not recorded as true/false",
        "the report compared no rows of the day",
    ]
