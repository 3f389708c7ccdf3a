"""The MLflow model of a platform version: an MLflow "model from code" around the platform's loader.

MLflow runs this file (``mlflow.pyfunc.log_model(python_model=<this file>, model_config=...)``)
when it loads the model; nothing in the platform imports it. It holds no weights and no pickle:
``load_context`` opens the platform's model store named in the model config, refuses a version
whose registered sha256 is no longer the one pinned at logging time, and loads the skops file
through :func:`~platform_assets.lib.ml.scoring.load_scorer`, which checks the file's bytes against
the registry first. ``predict`` returns the positive-class probability of each feature row, as the
platform's scoring does. Needs the ``mlflow`` extra and the platform package where it is loaded.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore, validate_version


class PlatformModel(mlflow.pyfunc.PythonModel):
    """One registered platform version, loaded through the platform's integrity check."""

    def load_context(self, context: Any) -> None:
        from platform_assets.lib.ml.scoring import load_scorer

        config = context.model_config
        store = ModelStore(config["model_store"])
        version = validate_version(config["version"])
        registered = store.get(version).sha256
        if registered != config["sha256"]:
            raise ModelIntegrityError(
                f"model {version}: the registry holds sha256 {registered}, the MLflow model was "
                f"logged for {config['sha256']}"
            )
        self.scorer = load_scorer(store, version)

    def predict(self, context, model_input: pd.DataFrame, params=None):
        """Positive-class probability of every row of ``model_input`` (feature columns). A
        DataFrame hint is one MLflow infers no schema from (nothing is enforced beyond the
        platform's own feature preparation), and it keeps MLflow from asking for type hints."""
        return self.scorer.probabilities(model_input)


mlflow.models.set_model(PlatformModel())
