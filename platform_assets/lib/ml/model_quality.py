"""Model monitoring for one day: prediction drift and classification quality with Evidently.

``compute_model_report`` compares one day's predicted probabilities (and labels, once they
exist) with the champion's predictions on its own training reference sample, saves Evidently's
HTML and JSON reports atomically and returns a plain, JSON-ready :class:`ModelReport`. Every number
comes from Evidently; the adapter handles what Evidently 0.7 does not (partly labelled days, one
class, undefined metrics). Evidently is imported inside the function (the import takes seconds).

Design notes: docs/design/evidently_adapters.md
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from platform_assets.lib.atomic import atomic_write_text

# PSI over 30 reference bins, drift at >= 0.1 (Evidently's defaults). On same-distribution samples of
# 400 current vs 600-2000 reference rows it passed 0.1 on 0-1 % of 200 simulated days, where the
# normed Wasserstein distance passed its 0.1 on 10-21 %; both flag a 0.1 shift of every probability.
DEFAULT_PREDICTION_DRIFT_METHOD = "psi"
QUALITY_METRICS = ("roc_auc", "log_loss", "precision", "recall", "f1", "accuracy")
_EVIDENTLY_TYPES = {
    "RocAuc": "roc_auc",
    "LogLoss": "log_loss",
    "Precision": "precision",
    "Recall": "recall",
    "F1Score": "f1",
    "Accuracy": "accuracy",
}
_PREDICTION, _LABEL = "prediction", "label"  # column names inside the Evidently reports


@dataclass(frozen=True)
class ModelReport:
    """Prediction drift and, when labels exist, classification quality for one day."""

    prediction_drift_score: float
    prediction_drift_method: str
    prediction_drift_threshold: float
    prediction_drifted: bool
    reference_mean_prediction: float
    current_mean_prediction: float
    reference_rows: int
    current_rows: int
    labelled_rows: int
    positive_rate: float | None
    quality: dict[str, Any] | None
    quality_skipped_reason: str | None
    quality_notes: tuple[str, ...]
    html_path: Path
    json_path: Path

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, str paths, None for missing or NaN numbers)."""
        return {
            "prediction_drift_score": _finite(self.prediction_drift_score),
            "prediction_drift_method": self.prediction_drift_method,
            "prediction_drift_threshold": _finite(self.prediction_drift_threshold),
            "prediction_drifted": self.prediction_drifted,
            "reference_mean_prediction": self.reference_mean_prediction,
            "current_mean_prediction": self.current_mean_prediction,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "labelled_rows": self.labelled_rows,
            "positive_rate": self.positive_rate,
            "quality": _plain(self.quality),
            "quality_skipped_reason": self.quality_skipped_reason,
            "quality_notes": list(self.quality_notes),
            "html_path": str(self.html_path),
            "json_path": str(self.json_path),
        }


def compute_model_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    html_path: Path | str,
    json_path: Path | str,
    *,
    prediction: str = "prediction",
    target: str = "label",
    threshold: float = 0.5,
    prediction_drift_method: str | None = None,
    prediction_drift_threshold: float | None = None,
) -> ModelReport:
    """Drift of ``current``'s predicted probabilities from ``reference``'s, and quality at
    ``threshold`` (positive when probability >= threshold) on ``current``'s labelled rows.

    ``prediction_drift_method`` is an Evidently stattest name for numerical columns (default
    ``"psi"``; ``"wasserstein"`` is the normed Wasserstein distance); ``prediction_drift_threshold``
    None means that method's default (0.1 for both).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    ref = _checked("reference", reference, prediction, target)
    cur = _checked("current", current, prediction, target)
    if ref[_LABEL].isna().any():
        raise ValueError("reference labels must not be null (the champion's training sample is labelled)")
    if ref[_LABEL].nunique() < 2:
        raise ValueError("reference labels must contain both classes 0 and 1")
    ref[_LABEL] = ref[_LABEL].astype("int64")

    labelled = cur[cur[_LABEL].notna()].astype({_LABEL: "int64"}).reset_index(drop=True)
    n_cur, n_lab = len(cur), len(labelled)
    notes: list[str] = []
    skipped = None
    if n_lab == 0:
        skipped = f"no labels yet for the {n_cur} current rows"
    elif n_lab < n_cur:
        notes.append(f"quality on the {n_lab} labelled rows of {n_cur} ({n_cur - n_lab} have no label yet)")
    both_classes = labelled[_LABEL].nunique() == 2
    if n_lab and not both_classes:
        only = int(labelled[_LABEL].iloc[0])
        notes.append(f"roc_auc undefined: the {n_lab} labelled current rows are all of class {only}")

    snapshots = _run_evidently(
        ref,
        cur[[_PREDICTION]],
        labelled,
        both_classes=both_classes,
        threshold=threshold,
        method=prediction_drift_method or DEFAULT_PREDICTION_DRIFT_METHOD,
        drift_threshold=prediction_drift_threshold,
    )
    parts = [s.dict() for s in snapshots]
    document = {key: [x for part in parts for x in part[key]] for key in ("metrics", "tests")}
    drift = _parse_drift(document)
    quality = None
    if n_lab:
        values = _parse_quality(document)
        reference_values = _parse_reference_quality(document, snapshots[-1])
        quality = {
            "threshold": threshold,
            "rows": n_lab,
            **_defined(values, labelled, threshold, "current", notes),
            "reference_quality": {
                "rows": len(ref),
                **_defined(reference_values, ref, threshold, "reference", notes),
            },
        }

    html_path, json_path = Path(html_path), Path(json_path)
    atomic_write_text(html_path, _html(snapshots, n_cur, n_lab))
    atomic_write_text(json_path, _json(snapshots))
    return ModelReport(
        prediction_drift_score=drift["score"],
        prediction_drift_method=drift["method"],
        prediction_drift_threshold=drift["threshold"],
        prediction_drifted=drift["drifted"],
        reference_mean_prediction=float(ref[_PREDICTION].mean()),
        current_mean_prediction=float(cur[_PREDICTION].mean()),
        reference_rows=len(ref),
        current_rows=n_cur,
        labelled_rows=n_lab,
        positive_rate=float(labelled[_LABEL].mean()) if n_lab else None,
        quality=quality,
        quality_skipped_reason=skipped,
        quality_notes=tuple(notes),
        html_path=html_path,
        json_path=json_path,
    )


def _checked(name: str, frame: pd.DataFrame, prediction: str, target: str) -> pd.DataFrame:
    """``frame``'s two columns, validated, renamed to ``prediction``/``label`` and re-indexed."""
    if frame.empty:
        raise ValueError(f"{name} data is empty")
    missing = [c for c in (prediction, target) if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} data is missing columns: {missing}")
    probas, labels = frame[prediction], frame[target]
    if not pd.api.types.is_numeric_dtype(probas) or pd.api.types.is_bool_dtype(probas):
        raise ValueError(f"{name} predictions ({prediction!r}) must be numeric, got {probas.dtype}")
    probas = probas.astype("float64")
    if probas.isna().any():
        raise ValueError(f"{name} predictions ({prediction!r}) contain {int(probas.isna().sum())} null/NaN")
    outside = probas[(probas < 0) | (probas > 1)]
    if len(outside):
        raise ValueError(
            f"{name} predictions ({prediction!r}) must be probabilities in [0, 1]: "
            f"{len(outside)} are not, e.g. {outside.iloc[0]}"
        )
    present = labels.dropna()
    bad = present[~present.isin([0, 1])]
    if len(bad):
        raise ValueError(
            f"{name} labels ({target!r}) must be 0, 1 or null: {len(bad)} are not, e.g. {bad.iloc[0]!r}"
        )
    return pd.DataFrame({_PREDICTION: probas.to_numpy(), _LABEL: labels.astype("float64").to_numpy()})


def _run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    *,
    both_classes: bool,
    threshold: float,
    method: str,
    drift_threshold: float | None,
) -> list[Any]:
    """Prediction drift of ``current`` (all rows) and quality on ``labelled``: one snapshot when
    every row or none is labelled, else two (drift, then quality)."""
    with warnings.catch_warnings():  # its dependencies' deprecation notices, on every import
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently import BinaryClassification, DataDefinition, Dataset, Report
        from evidently.metrics import Accuracy, F1Score, LogLoss, Precision, Recall, RocAuc, ValueDrift
        from evidently.presets import ClassificationPreset
    from sklearn.exceptions import UndefinedMetricWarning

    drift_items = [ValueDrift(column=_PREDICTION, method=method, threshold=drift_threshold)]
    if both_classes:
        quality_items = [ClassificationPreset(probas_threshold=threshold)]
    else:
        # the preset's per-label ROC AUC fails on one class; RocAuc alone gives NaN (None here)
        metrics = (Accuracy, Precision, Recall, F1Score, RocAuc, LogLoss)
        quality_items = [m(probas_threshold=threshold) for m in metrics]
    classification = [BinaryClassification(target=_LABEL, prediction_probas=_PREDICTION)]

    def run(items: list[Any], cur: pd.DataFrame, with_labels: bool) -> Any:
        definition = DataDefinition(
            numerical_columns=[_PREDICTION], classification=classification if with_labels else None
        )
        columns = [_PREDICTION, _LABEL] if with_labels else [_PREDICTION]
        return Report(items, include_tests=True).run(
            current_data=Dataset.from_pandas(cur[columns], data_definition=definition),
            reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
        )

    with warnings.catch_warnings():
        # sklearn's and Evidently's notices on zero denominators; those values are nulled later
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        if labelled.empty:
            return [run(drift_items, current, False)]
        if len(labelled) == len(current):
            return [run(drift_items + quality_items, labelled, True)]
        return [run(drift_items, current, False), run(quality_items, labelled, True)]


def _parse_drift(document: dict[str, Any]) -> dict[str, Any]:
    """Score, method and threshold of the ValueDrift metric; drifted when its test failed."""
    drifts = [m for m in document["metrics"] if m["config"]["type"].endswith(":ValueDrift")]
    if len(drifts) != 1:
        raise RuntimeError(f"expected one ValueDrift metric in Evidently's snapshot, found {len(drifts)}")
    metric = drifts[0]
    statuses = [
        str(getattr(t["status"], "value", t["status"]))
        for t in document["tests"]
        if t["metric_config"]["metric_id"] == metric["id"]
    ]
    if len(statuses) != 1:
        raise RuntimeError(f"expected one test on the ValueDrift metric, found {len(statuses)}")
    return {
        "score": float(metric["value"]),
        "method": str(metric["config"]["method"]),
        "threshold": float(metric["config"]["threshold"]),
        "drifted": statuses[0] == "FAIL",
    }


def _quality_metrics(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Our metric name -> Evidently's metric entry (the single-value classification metrics)."""
    found: dict[str, dict[str, Any]] = {}
    for metric in document["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1]
        if kind in _EVIDENTLY_TYPES:
            found[_EVIDENTLY_TYPES[kind]] = metric
    return found


def _parse_quality(document: dict[str, Any]) -> dict[str, float | None]:
    found = _quality_metrics(document)
    return {name: _number(found[name]["value"]) if name in found else None for name in QUALITY_METRICS}


def _parse_reference_quality(document: dict[str, Any], snapshot: Any) -> dict[str, float | None]:
    """The same metrics on the reference: Evidently keeps them in the snapshot's context only."""
    found = _quality_metrics(document)
    out: dict[str, float | None] = {}
    for name in QUALITY_METRICS:
        if name in found:
            result = snapshot.context.get_reference_metric_result(found[name]["id"])
            out[name] = _number(result.to_dict()["value"])
        else:
            out[name] = None
    return out


def _defined(
    values: dict[str, float | None], frame: pd.DataFrame, threshold: float, side: str, notes: list[str]
) -> dict[str, float | None]:
    """Evidently's values with zero-denominator ones (reported by Evidently as 0.0) set to None."""
    positives = int(frame[_LABEL].sum())
    predicted = int((frame[_PREDICTION] >= threshold).sum())
    out = dict(values)
    if predicted == 0:
        out["precision"] = None
        notes.append(f"precision undefined on {side}: no labelled row has a prediction >= {threshold}")
    if positives == 0:
        out["recall"] = None
        notes.append(f"recall undefined on {side}: no labelled row is positive")
        if predicted == 0:
            out["f1"] = None
            notes.append(f"f1 undefined on {side}: no positive label and no positive prediction")
    return out


def _html(snapshots: list[Any], rows: int, labelled: int) -> str:
    """Evidently's own page for one snapshot; for two, one page embedding both (as Jupyter does)."""
    if len(snapshots) == 1:
        return snapshots[0].get_html_str(as_iframe=False)
    drift, quality = (s.get_html_str(as_iframe=True) for s in snapshots)
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"><title>Model monitoring</title></head>\n'
        f"<body>\n<h2>Prediction drift: all {rows} current rows</h2>\n{drift}\n"
        f"<h2>Classification quality: the {labelled} labelled rows of {rows}</h2>\n{quality}\n"
        "</body>\n</html>\n"
    )


def _json(snapshots: list[Any]) -> str:
    """Evidently's JSON (``Snapshot.json``); for two snapshots, their metric and test lists joined."""
    if len(snapshots) == 1:
        return snapshots[0].json()
    parts = [json.loads(s.json()) for s in snapshots]
    return json.dumps({key: [x for p in parts for x in p[key]] for key in ("metrics", "tests")})


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return _finite(value)
    return value
