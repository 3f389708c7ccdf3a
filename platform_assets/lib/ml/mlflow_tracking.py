"""A training run as an MLflow run: the search's candidates as nested runs, the chosen model's
held-out scores as metrics, its card, calibration, ROC summary and decision as artifacts.

Written after the platform has registered the version (MLflow is a view of the same facts, never
read to decide anything). Tags tie the run to the Dagster run and to the training data version.
No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_assets.lib.ml.mlflow_registry import VERSION_TAG
from platform_assets.lib.ml.mlflow_session import MlflowTarget, experiment_id

PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag for a nested run
_PARAM_CHARS = 500


def log_training_run(
    mlflow: Any,
    target: MlflowTarget,
    *,
    version: str,
    result: Any,
    card: Mapping[str, Any],
    training_data: Mapping[str, Any],
    decision: Mapping[str, Any],
    dagster_run_id: str,
    reports: Path | None = None,
) -> str:
    """Log one ``train_model`` run (``result``: a ``TrainingResult``) and its candidates; the
    MLflow run id. ``reports``: the platform's report folder, whose reports of the held-out days
    (``<report>/date=<day>/``) are attached."""
    client = mlflow.MlflowClient()
    experiment = experiment_id(mlflow, target)
    params = result.params
    tags = {
        "dagster_run_id": dagster_run_id,
        "training_data_version": str(training_data.get("data_version", "")),
        VERSION_TAG: version,
        "trainer": str(params.get("trainer", "")),
        "family": str(params.get("kind", "")),
        "decision": str(decision.get("action", "")),
    }
    run = client.create_run(experiment, run_name=f"train {version}", tags=tags)
    run_id = run.info.run_id
    try:
        _log(client, run_id, params=_flat(params), metrics=_model_metrics(result.metrics))
        for candidate in result.candidates or []:
            _log_candidate(client, experiment, run_id, candidate)
        with tempfile.TemporaryDirectory(prefix="mlflow-") as folder:
            root = Path(folder)
            model = result.metrics["model"]
            files = {
                "model_card.json": card,
                "calibration.json": model.get("calibration") or {},
                "roc_summary.json": {
                    "roc_auc": model.get("roc_auc"),
                    "tpr_at_fpr": model.get("tpr_at_fpr") or {},
                },
                "decision.json": decision,
                "candidates.json": result.candidates or [],
                "training_data.json": training_data,
            }
            for name, value in files.items():
                (root / name).write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
            client.log_artifacts(run_id, str(root), "evaluation")
        for day_dir, path in _reports(reports, result.split.holdout_start, result.split.holdout_end):
            client.log_artifacts(run_id, str(day_dir), path)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_candidate(client: Any, experiment: str, parent: str, candidate: Mapping[str, Any]) -> None:
    """One searched candidate: a nested run with its hyper-parameters, validation scores, fit time."""
    name = f"{candidate.get('family')} #{candidate.get('index')}"
    tags = {
        PARENT_TAG: parent,
        "family": str(candidate.get("family")),
        "chosen": str(candidate.get("chosen")),
    }
    child = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    params = {"family": candidate.get("family"), **dict(candidate.get("hyperparams") or {})}
    metrics = {
        key: candidate.get(key)
        for key in (
            "validation_roc_auc",
            "validation_log_loss",
            "validation_brier",
            "validation_rows",
            "fit_seconds",
        )
    }
    _log(client, child, params=_flat(params), metrics=metrics)
    client.set_terminated(child, "FINISHED")


def _model_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The chosen model's held-out scores, calibration error, TPR at fixed FPRs, the baseline's."""
    model, baseline = metrics["model"], metrics["baseline"]
    out: dict[str, Any] = {f"holdout_{k}": model.get(k) for k in ("roc_auc", "log_loss", "brier")}
    out.update({f"holdout_{k}_at_0_5": model["at_0_5"].get(k) for k in ("precision", "recall", "f1")})
    tuned = model.get("at_train_best_f1") or {}
    out.update({f"holdout_{k}_tuned": tuned.get(k) for k in ("threshold", "precision", "recall", "f1")})
    out["holdout_calibration_error"] = (model.get("calibration") or {}).get("ece")
    for fpr, tpr in (model.get("tpr_at_fpr") or {}).items():
        out[f"holdout_tpr_at_fpr_{fpr}"] = tpr
    out.update({f"baseline_{k}": baseline.get(k) for k in ("roc_auc", "log_loss", "brier")})
    out["positive_rate_holdout"] = metrics.get("positive_rate_holdout")
    out.update(
        {f"train_{k}": v for k, v in (metrics.get("train") or {}).items() if k in ("roc_auc", "log_loss")}
    )
    return out


def _log(client: Any, run_id: str, params: Mapping[str, str], metrics: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric, Param

    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    numbers = [
        Metric(key, float(value), now, 0)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ]
    client.log_batch(run_id, metrics=numbers, params=[Param(k, v) for k, v in params.items()])


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as ``a.b`` keys with string values (long ones cut: MLflow limits a param)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[name] = text[:_PARAM_CHARS]
    return out


def _reports(reports: Path | None, first: str, last: str) -> list[tuple[Path, str]]:
    """``(folder, artifact path)`` of every report of the days ``first``..``last``."""
    if reports is None or not reports.is_dir():
        return []
    start, end = dt.date.fromisoformat(str(first)[:10]), dt.date.fromisoformat(str(last)[:10])
    days = {f"date={start + dt.timedelta(days=i)}" for i in range((end - start).days + 1)}
    return [
        (folder, f"evidently/{folder.parent.name}/{folder.name}")
        for folder in sorted(reports.glob("*/date=*"))
        if folder.name in days and folder.is_dir()
    ]
