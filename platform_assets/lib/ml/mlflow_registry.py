"""The MLflow Model Registry kept in step with the platform's registry (the source of truth).

Each platform version ``vNNNN`` is an MLflow model version of one registered model, tagged
``platform_version`` (and created in order, so MLflow's number is NNNN while the platform's
numbers have no gap). The aliases follow the platform's pointers, never the other way round:
``champion`` is the platform's champion, ``challenger`` its newest version when that is not the
champion. :func:`sync` writes that state after the platform has committed; :func:`drift` reads
both and names every difference (the models layer reports it as a check). Scikit-learn versions
are logged as pyfunc models from code (``mlflow_model.py``: the platform's skops loader, sha256
first); Spark ML versions as the saved Spark model folder, as artifacts. No Dagster here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_assets.lib.ml.mlflow_session import MlflowTarget, experiment_id
from platform_assets.lib.ml.model_store import SPARK_FORMAT, ModelStore, ModelVersion

VERSION_TAG = "platform_version"
SHA256_TAG = "platform_sha256"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
MODEL_NAME = "model"  # the logged model's name inside its run


def wanted_aliases(store: ModelStore) -> dict[str, str | None]:
    """Alias -> platform version (None: the alias must not exist), from the platform's registry."""
    champion = store.champion()
    latest = store.latest(accepted_only=False)
    challenger = (
        latest.version if latest and (champion is None or latest.version != champion.version) else None
    )
    return {CHAMPION_ALIAS: champion.version if champion else None, CHALLENGER_ALIAS: challenger}


def mirrored_versions(client: Any, name: str) -> dict[str, str]:
    """Platform version -> MLflow version number, for the versions MLflow holds."""
    found = client.search_model_versions(f"name = '{name}'")
    return {v.tags[VERSION_TAG]: str(v.version) for v in found if VERSION_TAG in v.tags}


def sync(
    mlflow: Any, store: ModelStore, target: MlflowTarget, runs: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Register every platform version MLflow lacks (oldest first; the model is logged in the
    run ``runs`` names for it, else in a run of its own), then move the aliases to the platform's
    pointers. Returns what was done."""
    client = mlflow.MlflowClient()
    name = target.registered_model
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name, description="Mirror of the platform's model registry")
    present = mirrored_versions(client, name)
    registered = []
    for version in store.versions():
        if version.version in present:
            continue
        run_id = (runs or {}).get(version.version)
        present[version.version] = _register(mlflow, store, target, version, run_id)
        registered.append(version.version)
    moved = {}
    for alias, version in wanted_aliases(store).items():
        moved[alias] = _point(client, name, alias, present.get(version) if version else None)
    return {"registered": registered, "aliases": moved}


def drift(client: Any, store: ModelStore, name: str) -> list[str]:
    """Every way MLflow's registry differs from the platform's (empty: in step)."""
    present = mirrored_versions(client, name)
    problems = []
    for version in store.versions():
        number = present.get(version.version)
        if number is None:
            problems.append(f"platform version {version.version} is not registered in MLflow {name!r}")
        elif int(number) != int(version.version[1:]):
            problems.append(f"platform version {version.version} is MLflow version {number}")
    by_number = {number: version for version, number in present.items()}
    for alias, wanted in wanted_aliases(store).items():
        actual = _alias_target(client, name, alias)
        actual_version = by_number.get(actual) if actual else None
        if (actual is None and wanted is None) or (actual is not None and actual_version == wanted):
            continue
        shown = f"MLflow version {actual} ({actual_version or 'untagged'})" if actual else "nothing"
        problems.append(
            f"MLflow alias {name}@{alias} points to {shown}; the platform's {alias} is {wanted or 'none'}"
        )
    return problems


def _register(
    mlflow: Any, store: ModelStore, target: MlflowTarget, version: ModelVersion, run_id: str | None
) -> str:
    """Log ``version``'s model in a run and create its MLflow model version; its number."""
    tags = {VERSION_TAG: version.version, SHA256_TAG: version.sha256}
    if run_id is None:
        run = mlflow.MlflowClient().create_run(
            experiment_id(mlflow, target), run_name=f"register {version.version}", tags=tags
        )
        run_id = run.info.run_id
    with mlflow.start_run(run_id=run_id):
        if version.format == SPARK_FORMAT:
            # Spark's own files, as saved (mlflow.spark.log_model would save them again through a
            # DFS temporary folder); loaded with PipelineModel.load from the artifacts
            mlflow.log_artifacts(str(version.model_path), "spark_model")
            source = f"runs:/{run_id}/spark_model"
        else:
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                python_model=str(MODEL_CODE),
                model_config={
                    "model_store": str(store.root.resolve()),
                    "version": version.version,
                    "sha256": version.sha256,
                },
                pip_requirements=_requirements(),  # named: no inference subprocess
            )
            source = info.model_uri
    created = mlflow.MlflowClient().create_model_version(
        target.registered_model, source, run_id=run_id, tags=tags, description=f"platform {version.version}"
    )
    return str(created.version)


def _point(client: Any, name: str, alias: str, number: str | None) -> str | None:
    """Set (or delete, for None) ``alias``; the number it now points to."""
    if number is None:
        if _alias_target(client, name, alias) is not None:
            client.delete_registered_model_alias(name, alias)
        return None
    client.set_registered_model_alias(name, alias, number)
    return number


def _alias_target(client: Any, name: str, alias: str) -> str | None:
    aliases = client.get_registered_model(name).aliases or {}
    number = aliases.get(alias)
    return None if number is None else str(number)


def _requirements() -> list[str]:
    from importlib import metadata

    pins = []
    for package in ("scikit-learn", "skops", "pandas", "numpy", "mlflow-skinny"):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins
