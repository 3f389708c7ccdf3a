"""Is one model better than another on the same held-out rows by more than chance?

A paired cluster bootstrap: both models' probabilities stay attached to their rows, and whole
*units* (a visitor's sessions) are resampled with replacement, because a visitor's sessions share
the visitor's propensity and history features and are not independent. Days cannot be the unit:
the holdout is a couple of days. Each resample recomputes the improvement (positive: the new
model is better) of the mean per-row loss (log loss, Brier) or of the ROC AUC; the one-sided lower
bound at ``level`` is the resamples' ``1 - level`` quantile. A fixed number of resamples and a
fixed seed make the bound, and so any decision on it, deterministic. No Dagster here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# One-sided levels (measured by ``python -m benchmarks.gate``, RESULTS.md "promotion gate").
# Against the champion: 95%. Against the prior-only baseline: 99%, because at most 1 useless
# first champion in 30 must pass: a per-model false-pass rate of 1% keeps that 96% likely
# (binomial), 3-5% only 55-77%; the real model at the demo's volume clears 99% on every seed.
LEVEL = 0.95
BASELINE_LEVEL = 0.99
RESAMPLES = 2000  # the 5% quantile of 2000 resamples moves by about 0.1 standard error between seeds
SEED = 15
METRICS = ("log_loss", "brier", "roc_auc")
_CHUNK_CELLS = 4_000_000  # resamples x rows scored at once by the AUC (bounds memory to ~32 MB)
_EPS = 1e-15  # probabilities are clipped to [eps, 1 - eps] in the log loss


@dataclass(frozen=True)
class Improvement:
    """How much better the new model is than the old one on one metric, with its lower bound."""

    metric: str
    estimate: float  # on all the rows; positive: the new model is better
    lower: float  # one-sided lower confidence bound at ``level``
    level: float
    resamples: int
    units: int
    rows: int
    seed: int

    @property
    def beyond_chance(self) -> bool:
        """The improvement is positive with probability ``level`` (the bound is above 0)."""
        return self.lower > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_losses(metric: str, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each row's log loss or Brier score (their mean is the metric)."""
    y = np.asarray(labels, dtype="float64")
    p = np.asarray(probabilities, dtype="float64")
    if metric == "log_loss":
        p = np.clip(p, _EPS, 1 - _EPS)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))
    if metric == "brier":
        return (p - y) ** 2
    raise ValueError(f"no per-row loss for {metric!r}")


def resample_weights(units: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, weights)``: each row's unit index, and for each resample how many times each unit
    is drawn (``resamples`` x units, each row summing to the number of units)."""
    _, codes = np.unique(np.asarray(units), return_inverse=True)
    count = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    return codes, rng.multinomial(count, np.full(count, 1.0 / count), size=resamples).astype("float64")


def weighted_auc(labels: np.ndarray, scores: np.ndarray, row_weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``scores`` under each row of ``row_weights`` (resamples x rows): the weighted
    share of (positive, negative) pairs ranked right, ties counting one half; NaN for a resample
    without a positive or a negative."""
    y = np.asarray(labels, dtype=bool)
    order = np.argsort(scores, kind="stable")
    ranked = np.asarray(scores)[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # tie groups, ascending
    w = row_weights[:, order]
    positive = np.add.reduceat(w * y[order], starts, axis=1)
    negative = np.add.reduceat(w * ~y[order], starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative
    pairs = positive.sum(axis=1) * negative.sum(axis=1)
    right = (positive * (below + 0.5 * negative)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, right / pairs, np.nan)


def improvements(
    labels: np.ndarray,
    new: np.ndarray,
    old: np.ndarray,
    units: np.ndarray,
    metrics: tuple[str, ...] = ("log_loss", "roc_auc"),
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Improvement]:
    """The improvement of ``new`` over ``old`` probabilities on the same rows, for each metric,
    with its one-sided lower bound from one set of ``resamples`` unit resamples (the same for every
    metric, so the bounds are paired across metrics too)."""
    y = np.asarray(labels, dtype=int)
    new, old = np.asarray(new, dtype="float64"), np.asarray(old, dtype="float64")
    if not (len(y) == len(new) == len(old) == len(units)) or len(y) == 0:
        raise ValueError("labels, both models' probabilities and units need one value per row")
    if not 0.5 <= level < 1:
        raise ValueError(f"level must be in [0.5, 1), got {level!r}")
    codes, weights = resample_weights(units, resamples, seed)
    out = {}
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
        if metric == "roc_auc":
            full = np.ones((1, len(y)))
            estimate = float(weighted_auc(y, new, full)[0] - weighted_auc(y, old, full)[0])
            resampled = _auc_differences(y, new, old, codes, weights)
        else:
            gain = row_losses(metric, y, old) - row_losses(metric, y, new)
            estimate = float(gain.mean())
            per_unit, rows = np.bincount(codes, gain), np.bincount(codes).astype("float64")
            resampled = (weights @ per_unit) / (weights @ rows)
        lower = float(np.nanquantile(resampled, 1 - level))
        out[metric] = Improvement(metric, estimate, lower, level, resamples, len(weights[0]), len(y), seed)
    return out


def _auc_differences(
    y: np.ndarray, new: np.ndarray, old: np.ndarray, codes: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """``AUC(new) - AUC(old)`` under each resample, scored a chunk of resamples at a time."""
    step = max(1, _CHUNK_CELLS // len(y))
    parts = []
    for first in range(0, len(weights), step):
        rows = weights[first : first + step][:, codes]
        parts.append(weighted_auc(y, new, rows) - weighted_auc(y, old, rows))
    return np.concatenate(parts)
