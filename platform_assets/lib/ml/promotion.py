"""Champion and challenger: score both on the same held-out rows and decide a promotion.

A challenger replaces the champion only when every gate passes:

- ``beats_baseline``: it beats a prior-only baseline on its holdout (``lib/ml/training.py``);
- ``metric_floor``: its holdout ROC AUC reaches an absolute floor;
- ``beats_champion``: on the *same* held-out rows, it beats the current champion's score on the
  policy's metric by at least the margin (no champion yet: passes, the first accepted model wins).

The decision, with both scores and the reason, is a plain dict the registry keeps. No Dagster here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# metric -> True when higher is better
PROMOTION_METRICS: dict[str, bool] = {"roc_auc": True, "log_loss": False, "brier": False}
GATES = ("beats_baseline", "metric_floor", "beats_champion")


@dataclass(frozen=True)
class PromotionPolicy:
    """How a challenger must compare with the champion to replace it."""

    metric: str = "log_loss"
    margin: float = 0.001  # in the metric's units; the challenger must be better by at least this
    min_roc_auc: float = 0.55

    def __post_init__(self) -> None:
        if self.metric not in PROMOTION_METRICS:
            raise ValueError(
                f"promotion metric {self.metric!r}: expected one of {', '.join(PROMOTION_METRICS)}"
            )
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"promotion margin must be a number >= 0, got {self.margin!r}")

    def improvement(self, challenger: float, champion: float) -> float:
        """How much better the challenger is (positive: better), whatever the metric's direction."""
        return challenger - champion if PROMOTION_METRICS[self.metric] else champion - challenger


def holdout_scores(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """ROC AUC, log loss and Brier score of positive-class ``probabilities`` against 0/1 labels."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype="float64")
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"need as many probabilities as labels, and some rows: {len(p)} vs {len(y)}")
    if len(np.unique(y)) < 2:
        raise ValueError(f"the held-out rows hold a single class (label={y[0]}): ROC AUC is undefined")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must be finite and between 0 and 1")
    # imported here: every Dagster run process loads this module with the definitions, and
    # scikit-learn's import (about 1.2 s) would otherwise be paid by every ingest run too
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "rows": len(y),
        "positive_rate": float(y.mean()),
    }


@dataclass(frozen=True)
class Gate:
    """One promotion gate's verdict, with the figures behind it."""

    name: str
    passed: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``challenger`` replaces ``champion``, why, and the scores on the shared holdout."""

    challenger: str
    champion: str | None
    policy: PromotionPolicy
    challenger_scores: dict[str, float]
    champion_scores: dict[str, float] | None
    gates: tuple[Gate, ...]
    holdout: dict[str, Any]

    @property
    def promote(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def reason(self) -> str:
        failed = [gate.detail for gate in self.gates if not gate.passed]
        if failed:
            return "kept the champion: " + "; ".join(failed)
        return next(gate.detail for gate in self.gates if gate.name == "beats_champion")

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)

    def as_record(self) -> dict[str, Any]:
        """What the registry keeps (plain JSON types)."""
        return {
            "action": "promote" if self.promote else "keep",
            "challenger": self.challenger,
            "compared_with": self.champion,
            "metric": self.policy.metric,
            "margin": self.policy.margin,
            "min_roc_auc": self.policy.min_roc_auc,
            "challenger_scores": self.challenger_scores,
            "champion_scores": self.champion_scores,
            "gates": {g.name: {"passed": g.passed, "detail": g.detail} for g in self.gates},
            "holdout": self.holdout,
            "reason": self.reason,
        }


def decide(
    challenger: str,
    challenger_scores: dict[str, float],
    beats_baseline: bool,
    baseline_scores: dict[str, float],
    champion: str | None,
    champion_scores: dict[str, float] | None,
    policy: PromotionPolicy,
    holdout: dict[str, Any],
    champion_error: str | None = None,
) -> PromotionDecision:
    """Apply the three gates. ``champion_scores`` are the champion's on the same rows as
    ``challenger_scores``; ``champion_error`` says why the champion could not be scored (its files
    are missing or altered): the challenger is then not promoted automatically."""
    auc = challenger_scores["roc_auc"]
    baseline_gate = Gate(
        "beats_baseline",
        beats_baseline,
        f"ROC AUC {auc:.4f} vs baseline {baseline_scores['roc_auc']:.4f}, log loss "
        f"{challenger_scores['log_loss']:.4f} vs {baseline_scores['log_loss']:.4f}",
        {"baseline_roc_auc": baseline_scores["roc_auc"], "baseline_log_loss": baseline_scores["log_loss"]},
    )
    floor_gate = Gate(
        "metric_floor",
        auc >= policy.min_roc_auc,
        f"holdout ROC AUC {auc:.4f} {'reaches' if auc >= policy.min_roc_auc else 'is below'} "
        f"the floor {policy.min_roc_auc:.4f}",
        {"roc_auc": auc, "min_roc_auc": policy.min_roc_auc},
    )
    champion_gate = _champion_gate(
        challenger, challenger_scores, champion, champion_scores, policy, holdout, champion_error
    )
    return PromotionDecision(
        challenger=challenger,
        champion=champion,
        policy=policy,
        challenger_scores=challenger_scores,
        champion_scores=champion_scores,
        gates=(baseline_gate, floor_gate, champion_gate),
        holdout=holdout,
    )


def _champion_gate(
    challenger: str,
    challenger_scores: dict[str, float],
    champion: str | None,
    champion_scores: dict[str, float] | None,
    policy: PromotionPolicy,
    holdout: dict[str, Any],
    champion_error: str | None,
) -> Gate:
    """``beats_champion``: passes with no champion yet, fails when the champion cannot be scored."""
    metric = policy.metric
    if champion_error:
        return Gate(
            "beats_champion",
            False,
            f"the champion {champion} cannot be scored ({champion_error}); promote a version "
            "explicitly once it is repaired or replaced",
            {"champion": champion},
        )
    if champion is None or champion_scores is None:
        return Gate(
            "beats_champion", True, f"no champion yet: {challenger} becomes the first", {"champion": None}
        )
    gain = policy.improvement(challenger_scores[metric], champion_scores[metric])
    passed = gain >= policy.margin and gain > 0
    return Gate(
        "beats_champion",
        passed,
        f"{metric} {challenger_scores[metric]:.4f} ({challenger}) vs {champion_scores[metric]:.4f} "
        f"({champion}) on the same {holdout.get('rows', '?')} held-out rows: "
        f"{'better' if gain > 0 else 'not better'} by {abs(gain):.4f}, margin {policy.margin:.4f}",
        {
            "champion": champion,
            "challenger_score": challenger_scores[metric],
            "champion_score": champion_scores[metric],
            "improvement": gain,
        },
    )
