"""Reaching MLflow, or saying in one line why not.

MLflow is an optional mirror of the platform's runs and registry (the ``mlflow`` extra). Every
entry point goes through :func:`open_mlflow`: it imports MLflow lazily, quiets it (its INFO lines,
git probing, telemetry, long HTTP retries) through the settings MLflow offers, and refuses fast
when a tracking server does not answer, so a missing extra or a dead server costs a training run
seconds and one warning, never a failure. No Dagster here.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from platform_assets.settings import MlflowSettings

# MLflow's own switches, set before it is imported (an operator's explicit value wins).
_QUIET_ENV = {
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # its INFO lines ("Creating initial MLflow database tables...")
    "MLFLOW_DISABLE_TELEMETRY": "true",  # no usage reports leave the machine
    "GIT_PYTHON_REFRESH": "quiet",  # no warning when git is missing (source-commit tag)
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # a dead server answers in seconds, not minutes
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
PROBE_TIMEOUT_SECONDS = 3.0


class MlflowSkipped(RuntimeError):
    """MLflow cannot be written now; ``str()`` is the reason, shown once to the user."""


@dataclass(frozen=True)
class MlflowTarget:
    """Where to write: the tracking (and registry) URI, the artifact location of a new
    experiment, the registered model name and the experiment name."""

    tracking_uri: str
    artifact_location: str | None
    registered_model: str
    experiment: str

    @classmethod
    def from_settings(cls, settings: MlflowSettings, data_dir: Path | str) -> MlflowTarget | None:
        """None when the mirror is off (``PLATFORM_MLFLOW_TRACKING_URI=off``)."""
        if not settings.enabled:
            return None
        uri, artifacts = settings.locations(Path(data_dir))
        return cls(uri, artifacts, settings.registered_model, settings.experiment)


def target_for(data_dir: Path | str, environ: Any = None) -> MlflowTarget | None:
    """The target the ``PLATFORM_MLFLOW_*`` variables name for the data directory ``data_dir``."""
    return MlflowTarget.from_settings(
        MlflowSettings.from_env(os.environ if environ is None else environ), data_dir
    )


def open_mlflow(target: MlflowTarget) -> Any:
    """The ``mlflow`` module pointed at ``target`` (tracking and registry); MlflowSkipped when the
    extra is not installed or the tracking server does not answer."""
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    try:
        import mlflow
    except ImportError:
        raise MlflowSkipped("the mlflow extra is not installed (pip install -e '.[mlflow]')") from None
    _probe(target.tracking_uri)
    if target.tracking_uri.startswith("sqlite:///"):
        Path(target.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(target.tracking_uri)
    mlflow.set_registry_uri(target.tracking_uri)
    return mlflow


def experiment_id(mlflow: Any, target: MlflowTarget) -> str:
    """The experiment's id, created (with the target's artifact location) on first use."""
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(target.experiment)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(target.experiment, artifact_location=target.artifact_location)


def _probe(uri: str) -> None:
    """Fail fast when an http(s) tracking server does not answer its health endpoint."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    health = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(health, timeout=PROBE_TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError:
        return  # it answered: a proxy without /health still serves the API
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise MlflowSkipped(
            f"the tracking server {parts.scheme}://{parts.netloc} does not answer ({reason})"
        ) from None
