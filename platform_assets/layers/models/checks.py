"""Model checks (``beats_baseline`` runs inside the training step, see ``assets.py``)."""

import math

import dagster as dg

from platform_assets.layers.models.assets import CONVERSION_MODEL
from platform_assets.metadata import latest_metadata
from platform_assets.quality import CheckRun, check, checks_step


@check(
    CONVERSION_MODEL,
    "metric_floor",
    blocking=True,
    description="The trained version's ROC AUC on the held-out (later) days reaches "
    "PLATFORM_MODEL_MIN_ROC_AUC (default 0.55), whatever the baseline did.",
)
def metric_floor(run: CheckRun, key: str) -> dg.AssetCheckResult:
    recorded = latest_metadata(run.instance, CONVERSION_MODEL) or {}
    auc = float(recorded.get("roc_auc", math.nan))
    floor = run.quality.model_min_roc_auc
    passed = math.isfinite(auc) and auc >= floor
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "model_version": str(recorded.get("model_version", "")),
            "roc_auc": auc,
            "min_roc_auc": floor,
            "baseline_roc_auc": float(recorded.get("baseline_roc_auc", math.nan)),
        },
        description=None if passed else f"holdout ROC AUC {auc:.3f} is below the floor {floor:.3f}",
    )


model_checks = checks_step("models_checks", [metric_floor])
