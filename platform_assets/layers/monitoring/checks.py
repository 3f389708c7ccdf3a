"""Monitoring checks: each day's reports exist, read back, and their summaries are consistent
(a day recorded as skipped, for want of sessions, passes with its reason)."""

import json
import math
from pathlib import Path

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step
from platform_assets.layers.common.metadata import latest_metadata
from platform_assets.layers.monitoring.assets import FEATURE_DRIFT, MODEL_PERFORMANCE


def report_file_problems(recorded: dict) -> list[str]:
    """What is wrong with a materialization's ``report_html`` / ``report_json`` (empty: fine)."""
    problems = []
    for name in ("report_html", "report_json"):
        path = Path(str(recorded.get(name) or ""))
        if not recorded.get(name) or not path.is_file() or path.stat().st_size == 0:
            problems.append(f"{name} missing or empty: {recorded.get(name)!r}")
    if not problems:
        try:
            report = json.loads(Path(str(recorded["report_json"])).read_text("utf-8"))
        except (OSError, ValueError) as error:
            problems.append(f"report_json is not JSON: {error}")
        else:
            if not isinstance(report, dict) or not report.get("metrics"):
                problems.append("report_json has no metrics")
    return problems


def drift_report_problems(recorded: dict) -> list[str]:
    """What is wrong with a ``feature_drift`` materialization's reports and summary (empty: fine)."""
    problems = report_file_problems(recorded)
    share = recorded.get("drift_share")
    if not isinstance(share, int | float) or not math.isfinite(share) or not 0 <= share <= 1:
        problems.append(f"drift_share {share!r} is not between 0 and 1")
    drifted = recorded.get("drifted_columns")
    if not isinstance(drifted, list) or recorded.get("n_drifted_columns") != len(drifted):
        problems.append(f"n_drifted_columns {recorded.get('n_drifted_columns')!r} != len({drifted!r})")
    if not isinstance(recorded.get("dataset_drift"), bool):
        problems.append("dataset_drift is not recorded as true/false")
    if not recorded.get("dagster/row_count"):
        problems.append("the report compared no rows of the day")
    return problems


@check(
    FEATURE_DRIFT,
    "report_well_formed",
    blocking=True,
    description="The day's HTML and JSON drift reports exist and are not empty, the JSON parses with "
    "its metrics, and the recorded summary is consistent (share in [0, 1], drifted columns counted, "
    "a verdict, rows compared).",
)
def report_well_formed(run: CheckRun, day: str) -> dg.AssetCheckResult:
    return _report_result(latest_metadata(run.instance, FEATURE_DRIFT, day) or {}, drift_report_problems)


def performance_report_problems(recorded: dict) -> list[str]:
    """What is wrong with a ``model_performance`` materialization's reports and summary."""
    problems = report_file_problems(recorded)
    score = recorded.get("prediction_drift_score")
    if not isinstance(score, int | float) or not math.isfinite(score):
        problems.append(f"prediction_drift_score {score!r} is not a number")
    if not isinstance(recorded.get("prediction_drifted"), bool):
        problems.append("prediction_drifted is not recorded as true/false")
    labelled = recorded.get("labelled_rows")
    if labelled and not recorded.get("quality_skipped_reason") and "quality_roc_auc" not in recorded:
        problems.append(f"{labelled} labelled rows but no quality metrics and no reason")
    if labelled and not recorded.get("quality_skipped_reason"):
        problems += _calibration_problems(recorded, labelled)
    return problems


def _calibration_problems(recorded: dict, labelled: int) -> list[str]:
    """The calibration summary of a labelled day is recorded and adds up."""
    rate, positives = recorded.get("observed_positive_rate"), recorded.get("calibration_positives")
    if not isinstance(rate, int | float) or not isinstance(positives, int | float):
        return [f"{labelled} labelled rows but no observed positive rate or count of positives"]
    problems = []
    if abs(rate * labelled - positives) > 1e-6 * labelled:
        problems.append(f"observed_positive_rate {rate} x {labelled} labelled rows != {positives} positives")
    low, difference, high = (recorded.get(f"calibration_difference{s}") for s in ("_low", "", "_high"))
    if not all(isinstance(v, int | float) for v in (low, difference, high)) or not low <= difference <= high:
        problems.append(f"calibration difference {difference!r} outside its interval [{low!r}, {high!r}]")
    if "heldout_rows" not in recorded and not recorded.get("heldout_missing"):
        problems.append("no held-out reference and no reason")
    return problems


@check(
    MODEL_PERFORMANCE,
    "report_well_formed",
    blocking=True,
    description="The day's prediction-drift and quality reports exist and parse with their metrics; "
    "a drift verdict is recorded, and quality metrics (or the reason they are missing) when labels exist, "
    "with a calibration summary that adds up and the champion's held-out reference.",
)
def performance_report_well_formed(run: CheckRun, day: str) -> dg.AssetCheckResult:
    recorded = latest_metadata(run.instance, MODEL_PERFORMANCE, day) or {}
    return _report_result(recorded, performance_report_problems)


def _report_result(recorded: dict, find_problems) -> dg.AssetCheckResult:
    if recorded.get("skipped_reason"):
        return dg.AssetCheckResult(passed=True, metadata={"skipped_reason": str(recorded["skipped_reason"])})
    problems = find_problems(recorded)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "report_html": str(recorded.get("report_html", "")),
            "report_json": str(recorded.get("report_json", "")),
            "problems": dg.MetadataValue.json(problems),
        },
        description="; ".join(problems) or None,
    )


monitoring_checks = checks_step("monitoring_checks", [report_well_formed, performance_report_well_formed])
