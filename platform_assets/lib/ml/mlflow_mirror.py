"""What the models layer asks of MLflow, each answered by one line that never raises.

Training and promotion call these after the platform's registry has committed. Each opens MLflow
(:func:`~platform_assets.lib.ml.mlflow_session.open_mlflow`), writes, and returns a short outcome
(``"run <id>; registered v0002; champion -> 2"``), or ``"skipped (<reason>)"`` when the extra is
missing, the mirror is off or MLflow fails: a mirror must never fail the platform's own work.
No Dagster here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from platform_assets.lib.ml import mlflow_registry
from platform_assets.lib.ml.mlflow_session import MlflowSkipped, MlflowTarget, open_mlflow
from platform_assets.lib.ml.model_store import ModelStore

SKIPPED = "skipped"
OFF = "off (PLATFORM_MLFLOW_TRACKING_URI=off)"


def mirror_training(
    target: MlflowTarget | None,
    store: ModelStore,
    *,
    version: str,
    result: Any,
    training_data: dict[str, Any],
    decision: dict[str, Any],
    dagster_run_id: str,
    reports: Path | None = None,
) -> str:
    """Log the training run and its candidates, register the new version (and any MLflow lacks),
    move the aliases."""

    def write(mlflow: Any) -> str:
        from platform_assets.lib.ml.mlflow_tracking import log_training_run

        assert target is not None
        run_id = log_training_run(
            mlflow,
            target,
            version=version,
            result=result,
            card=store.card(version),
            training_data=training_data,
            decision=decision,
            dagster_run_id=dagster_run_id,
            reports=reports,
        )
        return f"run {run_id}; " + _describe(mlflow_registry.sync(mlflow, store, target, {version: run_id}))

    return _guarded(target, write)


def mirror_champion(target: MlflowTarget | None, store: ModelStore) -> str:
    """Move the aliases to the platform's pointers (registering any version MLflow lacks)."""
    return _guarded(target, lambda mlflow: _describe(mlflow_registry.sync(mlflow, store, target)))


def drift_report(target: MlflowTarget | None, store: ModelStore) -> tuple[str, list[str]]:
    """``(outcome, differences)``: the differences between MLflow's registry and the platform's
    (none when MLflow could not be read: the outcome says why)."""
    found: list[str] = []

    def read(mlflow: Any) -> str:
        assert target is not None
        found.extend(mlflow_registry.drift(mlflow.MlflowClient(), store, target.registered_model))
        return "in step" if not found else f"{len(found)} difference(s)"

    return _guarded(target, read), found


def _guarded(target: MlflowTarget | None, write: Callable[[Any], str]) -> str:
    if target is None:
        return OFF
    try:
        return write(open_mlflow(target))
    except MlflowSkipped as reason:
        return f"{SKIPPED} ({reason})"
    except Exception as error:  # MLflow's errors (store, HTTP, registry) must not fail the platform
        return f"{SKIPPED} ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def _describe(done: dict[str, Any]) -> str:
    registered = ", ".join(done["registered"]) or "nothing new"
    aliases = ", ".join(f"{alias} -> {number or 'none'}" for alias, number in done["aliases"].items())
    return f"registered {registered}; {aliases}"
