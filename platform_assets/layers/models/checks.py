"""Model checks. The promotion gate (``beats_baseline``, ``metric_floor``, ``beats_champion``) runs
inside the training step, see ``assets.py``; the champion's integrity is checked here."""

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step
from platform_assets.layers.models.assets import CHAMPION
from platform_assets.lib.ml.model_store import ModelIntegrityError


@check(
    CHAMPION,
    "files_match_registry",
    blocking=True,
    description="The champion's model, reference sample and card match the sha256 the registry "
    "holds for them, so predictions and monitoring use exactly what was promoted.",
)
def files_match_registry(run: CheckRun, key: str) -> dg.AssetCheckResult:
    store = run.storage.model_store()
    current = store.champion()
    if current is None:
        return dg.AssetCheckResult(passed=False, description="no champion is registered")
    try:
        store.verify(current.version)
    except ModelIntegrityError as error:
        return dg.AssetCheckResult(
            passed=False, metadata={"champion": current.version}, description=str(error)
        )
    return dg.AssetCheckResult(
        passed=True, metadata={"champion": current.version, "model_sha256": current.sha256}
    )


model_checks = checks_step("models_checks", [files_match_registry])
