"""Model monitoring for one day: prediction drift, classification quality and calibration.

``compute_model_report`` compares one day's predicted probabilities with the champion's predictions
on its training reference sample (prediction drift, Evidently), and, once labels exist, reports
the day's classification quality (Evidently) and calibration (:func:`calibration_summary`: observed
positive rate against mean prediction, their difference with a 95% interval, a calibration z test,
expected calibration error and a reliability table) beside the champion's **held-out** figures
from its training card (:func:`heldout_reference`), never its scores on its own training rows,
which are optimistic. It saves Evidently's HTML and JSON reports atomically and returns a plain,
JSON-ready :class:`ModelReport`. The adapter handles what Evidently 0.7 does not (partly labelled
days, one class, undefined metrics). Evidently is imported inside the function (it takes seconds).

Design notes: docs/design/evidently_adapters.md
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.lib.atomic import atomic_write_text
from platform_assets.lib.ml.metrics import calibration_bins

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
# Under calibration a day's count of positives has mean sum(p) and variance sum(p(1 - p)); the z
# test reads it as normal, which needs that variance to be at least about 5 (the usual np(1-p)
# rule). Below it no z is given, and the retraining policy does not test calibration.
MIN_CALIBRATION_VARIANCE = 5.0
_Z95 = 1.959963984540054  # two-sided 95%
# The retraining trigger tests calibration on the day pooled with the day before (when the champion
# scored it and had not seen it): at about 360 labelled sessions a day, one day alone could not hold
# <= 5% false alarms and >= 90% detection of halved conversion together (normal days' z varies
# 1.16 times more than the binomial's); two days could (benchmarks/RESULTS.md, "concept drift").
CALIBRATION_WINDOW_DAYS = 2


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
    calibration: dict[str, Any] | None
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
            "calibration": _plain(self.calibration),
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
    heldout: Mapping[str, Any] | None = None,
) -> ModelReport:
    """Drift of ``current``'s predicted probabilities from ``reference``'s, and quality at
    ``threshold`` (positive when probability >= threshold) and calibration on ``current``'s
    labelled rows, beside ``heldout`` (:func:`heldout_reference` of the champion's card).

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
    quality = calibration = None
    if n_lab:
        values = _parse_quality(document)
        quality = {
            "threshold": threshold,
            "rows": n_lab,
            **_defined(values, labelled, threshold, "current", notes),
            "reference_quality": dict(heldout) if heldout is not None else None,
        }
        calibration = calibration_summary(labelled[_LABEL].to_numpy(), labelled[_PREDICTION].to_numpy())
        if calibration["z"] is None:
            variance = calibration["variance"]
            notes.append(f"no calibration test: sum p(1-p) = {variance:.2f} < {MIN_CALIBRATION_VARIANCE:g}")

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
        calibration=calibration,
        quality_skipped_reason=skipped,
        quality_notes=tuple(notes),
        html_path=html_path,
        json_path=json_path,
    )


def calibration_summary(labels: Any, probabilities: Any) -> dict[str, Any]:
    """How far a day's predicted probabilities are from its observed labels.

    ``difference`` is the observed positive rate minus the mean prediction, with the Wilson 95%
    interval of the rate (predictions are fixed numbers given the model). ``z`` tests calibration
    in the large: under calibration the count of positives has mean ``expected_positives`` = sum(p)
    and ``variance`` = sum(p(1 - p)), so ``z = (positives - sum p) / sqrt(sum p(1 - p))`` is about
    standard normal whatever the day's size (None when the variance is under
    ``MIN_CALIBRATION_VARIANCE``); ``p_value`` is two-sided. ``ece`` and ``reliability`` are the
    training card's calibration table (:func:`~platform_assets.lib.ml.metrics.calibration_bins`:
    ten equal-width bins, their rows, mean prediction and observed rate) on the day's rows.
    """
    y = np.asarray(labels, dtype="int64")
    p = np.asarray(probabilities, dtype="float64")
    if len(y) == 0 or len(y) != len(p):
        raise ValueError(f"need as many labels as probabilities, at least one: {len(y)} and {len(p)}")
    rows, positives = len(y), int(y.sum())
    expected, variance = float(p.sum()), float((p * (1 - p)).sum())
    rate, mean = positives / rows, expected / rows
    low, high = wilson_interval(positives, rows)
    z = (positives - expected) / math.sqrt(variance) if variance >= MIN_CALIBRATION_VARIANCE else None
    table = calibration_bins(y, p)
    return {
        "rows": rows,
        "positives": positives,
        "observed_rate": rate,
        "mean_prediction": mean,
        "difference": rate - mean,
        "difference_low": low - mean,
        "difference_high": high - mean,
        "expected_positives": expected,
        "variance": variance,
        "z": z,
        "p_value": None if z is None else two_sided_p(z),
        "ece": table["ece"],
        "reliability": table["bins"],
    }


def trigger_metadata(
    day: Mapping[str, Any], window: Mapping[str, Any], window_days: list[str]
) -> dict[str, Any]:
    """The flat numbers ``model_performance`` publishes for the retraining policy: the day's
    calibration (:func:`calibration_summary`) and the pooled one over ``window_days``."""
    return {
        "observed_positive_rate": day["observed_rate"],
        "labelled_mean_prediction": day["mean_prediction"],
        "calibration_difference": day["difference"],
        "calibration_difference_low": day["difference_low"],
        "calibration_difference_high": day["difference_high"],
        "calibration_positives": day["positives"],
        "calibration_expected_positives": day["expected_positives"],
        "calibration_z": day["z"],
        "calibration_p_value": day["p_value"],
        "calibration_ece": day["ece"],
        "calibration_window_days": list(window_days),
        "calibration_window_rows": window["rows"],
        "calibration_window_positives": window["positives"],
        "calibration_window_expected": window["expected_positives"],
        "calibration_window_z": window["z"],
        "calibration_window_p_value": window["p_value"],
    }


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default)."""
    rate, z2 = successes / trials, z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def heldout_reference(card: Mapping[str, Any]) -> dict[str, Any] | None:
    """The champion's quality on its held-out rows, as its training card recorded it (rows, observed
    rate, mean prediction and their difference, ECE, reliability table, log loss, ROC AUC,
    Brier), or None when the card lacks any of them. These rows were not trained on: the yardstick
    a new day is read against."""
    metrics = card.get("metrics") or {}
    model, split = metrics.get("model") or {}, metrics.get("split") or {}
    calibration = model.get("calibration") or {}
    rate, mean = metrics.get("positive_rate_holdout"), model.get("mean_predicted_probability")
    values = (split.get("holdout_rows"), rate, mean, model.get("log_loss"), calibration.get("ece"))
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in values):
        return None
    return {
        "source": "held-out",
        "start": split.get("holdout_start"),
        "end": split.get("holdout_end"),
        "rows": int(split["holdout_rows"]),
        "observed_rate": float(rate),
        "mean_prediction": float(mean),
        "difference": float(rate) - float(mean),
        "ece": float(calibration["ece"]),
        "reliability": list(calibration.get("bins") or []),
        "log_loss": float(model["log_loss"]),
        "roc_auc": _finite(model.get("roc_auc")),
        "brier": _finite(model.get("brier")),
    }


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
    """Prediction drift of ``current`` (all rows) against the reference, then, when rows are
    labelled, quality on ``labelled`` alone: the reference is scored on training rows, an optimistic
    yardstick, so the quality report shows none (the held-out one comes from the card)."""
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
        ref = None if with_labels else Dataset.from_pandas(reference[columns], data_definition=definition)
        return Report(items, include_tests=True).run(
            current_data=Dataset.from_pandas(cur[columns], data_definition=definition), reference_data=ref
        )

    with warnings.catch_warnings():
        # sklearn's and Evidently's notices on zero denominators; those values are nulled later
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        drift = run(drift_items, current, False)
        return [drift] if labelled.empty else [drift, run(quality_items, labelled, True)]


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
