"""Model checks. The promotion gate (``beats_baseline``, ``metric_floor``, ``beats_champion``) runs
inside the training step, see ``assets.py``; the champion's integrity, and whether MLflow's
registry still mirrors the platform's, are checked here."""

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step
from platform_assets.layers.models.assets import CHAMPION
from platform_assets.lib.ml.mlflow_mirror import drift_report
from platform_assets.lib.ml.mlflow_session import target_for
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


@check(
    CHAMPION,
    "mlflow_in_step",
    blocking=False,
    description="MLflow's model registry mirrors the platform's: every platform version is an MLflow "
    "version of the same number, and the champion and challenger aliases point where the platform's "
    "pointers do (passes when the MLflow mirror is off, not installed or not reachable).",
)
def mlflow_in_step(run: CheckRun, key: str) -> dg.AssetCheckResult:
    store = run.storage.model_store()
    outcome, differences = drift_report(target_for(run.storage.data_dir), store)
    metadata = {"mlflow": outcome, "differences": len(differences)}
    if differences:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,  # MLflow is a view: the platform's registry is right
            metadata=metadata,
            description="; ".join(differences),
        )
    return dg.AssetCheckResult(passed=True, metadata=metadata)


model_checks = checks_step("models_checks", [files_match_registry, mlflow_in_step])
