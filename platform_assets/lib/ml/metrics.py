"""How good a model's probabilities are: the scores, calibration, ROC summary and thresholds every
trainer reports, computed from labels and positive-class probabilities only (no model here)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from platform_assets.lib.ml.time_split import TimeSplit


def score_probabilities(y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Rows, ROC AUC, log loss and Brier score of positive-class probabilities (AUC is None
    when the rows hold a single class)."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype="float64")
    return {
        "rows": len(y_true),
        "roc_auc": float(roc_auc_score(y_true, proba)) if len(np.unique(y_true)) == 2 else None,
        "log_loss": float(log_loss(y_true, proba, labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, proba)),
    }


def assemble_metrics(
    *,
    model: dict[str, Any],
    baseline: dict[str, Any],
    positive_rate_train: float,
    positive_rate_holdout: float,
    split: TimeSplit,
    min_auc_margin: float,
    train: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics dict every trainer returns (same keys, same acceptance rule).

    ``train`` is the model's :func:`score_probabilities` on its training rows (``metrics["train"]``).
    """
    beats = bool(
        model["roc_auc"] > baseline["roc_auc"] + min_auc_margin and model["log_loss"] < baseline["log_loss"]
    )
    return {
        "model": model,
        "baseline": baseline,
        "beats_baseline": beats,
        "train": train or {},
        "min_auc_margin": float(min_auc_margin),
        "positive_rate_train": float(positive_rate_train),
        "positive_rate_holdout": float(positive_rate_holdout),
        "split": split.as_dict(),
    }


def _best_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The probability threshold with the highest F1 on the given (training) rows."""
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def _at_threshold(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    predicted = (proba >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    return {
        "threshold": float(threshold),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "predicted_positive_rate": float(predicted.mean()),
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }


CALIBRATION_BINS = 10
ROC_FPRS = (0.01, 0.05, 0.1, 0.2, 0.5)


def calibration_bins(y_true: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability table: ``bins`` equal-width probability bins (``[k/bins, (k+1)/bins)``, the
    last one closed), each non-empty one with its rows, mean predicted probability and observed
    positive rate; ``ece`` is their row-weighted mean absolute gap."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype="float64")
    which = np.clip(np.floor(proba * bins).astype(int), 0, bins - 1)
    table, gap = [], 0.0
    for k in range(bins):
        inside = which == k
        rows = int(inside.sum())
        if not rows:
            continue
        predicted, observed = float(proba[inside].mean()), float(y_true[inside].mean())
        table.append(
            {
                "lower": k / bins,
                "upper": (k + 1) / bins,
                "rows": rows,
                "mean_predicted": predicted,
                "observed_rate": observed,
            }
        )
        gap += rows * abs(predicted - observed)
    return {"bins": table, "ece": gap / len(proba)}


def roc_summary(
    y_true: np.ndarray, proba: np.ndarray, fprs: tuple[float, ...] = ROC_FPRS
) -> dict[str, float]:
    """``{"<fpr>": tpr}``: the highest true-positive rate reachable at or below each false-positive
    rate (a point of the empirical ROC curve, no interpolation)."""
    fpr, tpr, _ = roc_curve(
        np.asarray(y_true, dtype=int), np.asarray(proba, dtype="float64"), drop_intermediate=False
    )
    return {str(limit): float(tpr[fpr <= limit + 1e-12].max()) for limit in fprs}


def evaluate_probabilities(
    y_train: np.ndarray, proba_train: np.ndarray, y_holdout: np.ndarray, proba_holdout: np.ndarray
) -> dict[str, Any]:
    """Held-out metrics from labels and positive-class probabilities (any trainer); the tuned
    threshold is chosen on the training rows' probabilities only. Includes a calibration table
    (:func:`calibration_bins`) and the ROC curve's TPR at a few FPRs (:func:`roc_summary`)."""
    y_holdout = np.asarray(y_holdout, dtype=int)
    proba = np.asarray(proba_holdout, dtype="float64")
    tuned = _best_f1_threshold(np.asarray(y_train, dtype=int), np.asarray(proba_train, dtype="float64"))
    return {
        "roc_auc": float(roc_auc_score(y_holdout, proba)),
        "log_loss": float(log_loss(y_holdout, proba, labels=[0, 1])),
        "brier": float(brier_score_loss(y_holdout, proba)),
        "mean_predicted_probability": float(proba.mean()),
        "at_0_5": _at_threshold(y_holdout, proba, 0.5),
        "at_train_best_f1": _at_threshold(y_holdout, proba, tuned),
        "calibration": calibration_bins(y_holdout, proba),
        "tpr_at_fpr": roc_summary(y_holdout, proba),
    }
