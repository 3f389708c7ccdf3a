"""Champion and challenger: score both on the same held-out rows and decide a promotion.

A challenger replaces the champion only when every gate passes:

- ``beats_baseline``: on its held-out rows it ranks better than chance (the one-sided 99% lower
  bound of its ROC AUC minus the prior-only baseline's 0.5 is above 0) and its log loss is below
  the baseline's;
- ``metric_floor``: its holdout ROC AUC reaches an absolute floor (a sanity check; the baseline
  gate is what refuses useless models);
- ``beats_champion``: on the *same* held-out rows, the one-sided 95% lower bound of its improvement
  over the champion on the policy's metric reaches the margin and is above 0 (no champion yet:
  passes, the first accepted model wins).

Bounds come from a paired bootstrap over visitors (``lib/ml/paired_bootstrap.py``) at the policy's
levels, with a fixed number of resamples and seed: the same rows give the same decision. The
decision, with the scores, the improvements and their bounds, is a plain dict the registry keeps.
No Dagster here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from platform_assets.lib.ml import paired_bootstrap
from platform_assets.lib.ml.paired_bootstrap import Improvement, improvements

# metric -> True when higher is better
PROMOTION_METRICS: dict[str, bool] = {"roc_auc": True, "log_loss": False, "brier": False}
# The gates, each an asset check of models/conversion_model of the same name.
BEATS_BASELINE, METRIC_FLOOR, BEATS_CHAMPION = "beats_baseline", "metric_floor", "beats_champion"
GATES = (BEATS_BASELINE, METRIC_FLOOR, BEATS_CHAMPION)
BASELINE_METRICS = ("log_loss", "roc_auc")


@dataclass(frozen=True)
class PromotionPolicy:
    """How a challenger must compare with the baseline and the champion to replace it."""

    metric: str = "log_loss"
    margin: float = 0.001  # in the metric's units; the improvement's lower bound must reach this
    min_roc_auc: float = 0.55
    level: float = paired_bootstrap.LEVEL  # one-sided confidence level against the champion
    baseline_level: float = paired_bootstrap.BASELINE_LEVEL  # and against the prior-only baseline
    resamples: int = paired_bootstrap.RESAMPLES
    seed: int = paired_bootstrap.SEED

    def __post_init__(self) -> None:
        if self.metric not in PROMOTION_METRICS:
            raise ValueError(
                f"promotion metric {self.metric!r}: expected one of {', '.join(PROMOTION_METRICS)}"
            )
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"promotion margin must be a number >= 0, got {self.margin!r}")
        for name in ("level", "baseline_level"):
            if not (0.5 <= getattr(self, name) < 1):
                raise ValueError(f"promotion {name} must be in [0.5, 1), got {getattr(self, name)!r}")
        if self.resamples < 100:
            raise ValueError(f"promotion resamples must be >= 100, got {self.resamples!r}")

    def improvement(self, challenger: float, champion: float) -> float:
        """How much better the challenger is (positive: better), whatever the metric's direction."""
        return challenger - champion if PROMOTION_METRICS[self.metric] else champion - challenger

    def compare(
        self,
        labels: np.ndarray,
        new: np.ndarray,
        old: np.ndarray,
        units: np.ndarray,
        metrics: tuple[str, ...],
        level: float,
    ) -> dict[str, Improvement]:
        """Improvements of ``new`` over ``old`` with their lower bounds at ``level``."""
        return improvements(labels, new, old, units, metrics, level, self.resamples, self.seed)


@dataclass(frozen=True)
class HeldOut:
    """The held-out rows both models are judged on: labels, the unit each row belongs to (its
    visitor; resampled as a whole), and the positive-class probabilities of the challenger, of the
    prior-only baseline and (when there is one that could be scored) of the champion."""

    labels: np.ndarray
    challenger: np.ndarray
    baseline: np.ndarray
    champion: np.ndarray | None = None
    units: np.ndarray | None = None  # None: every row is its own unit

    def unit_ids(self) -> np.ndarray:
        return np.arange(len(self.labels)) if self.units is None else np.asarray(self.units)


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
    baseline_scores: dict[str, float] = field(default_factory=dict)
    # "baseline" / "champion" -> metric -> Improvement.as_dict()
    comparisons: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def promote(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def reason(self) -> str:
        failed = [gate.detail for gate in self.gates if not gate.passed]
        if failed:
            return "kept the champion: " + "; ".join(failed)
        return next(gate.detail for gate in self.gates if gate.name == BEATS_CHAMPION)

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
            "level": self.policy.level,
            "baseline_level": self.policy.baseline_level,
            "resamples": self.policy.resamples,
            "bootstrap_seed": self.policy.seed,
            "challenger_scores": self.challenger_scores,
            "champion_scores": self.champion_scores,
            "baseline_scores": self.baseline_scores,
            "comparisons": self.comparisons,
            "gates": {g.name: {"passed": g.passed, "detail": g.detail} for g in self.gates},
            "holdout": self.holdout,
            "reason": self.reason,
        }


def decide(
    challenger: str,
    heldout: HeldOut,
    champion: str | None,
    policy: PromotionPolicy,
    holdout: dict[str, Any],
    champion_error: str | None = None,
) -> PromotionDecision:
    """Apply the three gates to the probabilities in ``heldout``. ``champion_error`` says why the
    champion could not be scored (its files are missing or altered): the challenger is then not
    promoted automatically."""
    labels, units = np.asarray(heldout.labels, dtype=int), heldout.unit_ids()
    challenger_scores = holdout_scores(labels, heldout.challenger)
    baseline_scores = holdout_scores(labels, heldout.baseline)
    window = {**holdout, "rows": len(labels), "units": len(np.unique(units))}
    versus_baseline = policy.compare(
        labels, heldout.challenger, heldout.baseline, units, BASELINE_METRICS, policy.baseline_level
    )
    comparisons = {"baseline": {m: i.as_dict() for m, i in versus_baseline.items()}}
    champion_scores, versus_champion = None, None
    if heldout.champion is not None and not champion_error:
        champion_scores = holdout_scores(labels, heldout.champion)
        versus_champion = policy.compare(
            labels, heldout.challenger, heldout.champion, units, (policy.metric,), policy.level
        )[policy.metric]
        comparisons["champion"] = {policy.metric: versus_champion.as_dict()}
    auc = challenger_scores["roc_auc"]
    floor_gate = Gate(
        METRIC_FLOOR,
        auc >= policy.min_roc_auc,
        f"holdout ROC AUC {auc:.4f} {'reaches' if auc >= policy.min_roc_auc else 'is below'} "
        f"the floor {policy.min_roc_auc:.4f}",
        {"roc_auc": auc, "min_roc_auc": policy.min_roc_auc},
    )
    champion_gate = _champion_gate(
        challenger,
        challenger_scores,
        champion,
        champion_scores,
        versus_champion,
        policy,
        window,
        champion_error,
    )
    return PromotionDecision(
        challenger=challenger,
        champion=champion,
        policy=policy,
        challenger_scores=challenger_scores,
        champion_scores=champion_scores,
        gates=(
            _baseline_gate(challenger_scores, baseline_scores, versus_baseline),
            floor_gate,
            champion_gate,
        ),
        holdout=window,
        baseline_scores=baseline_scores,
        comparisons=comparisons,
    )


def _baseline_gate(
    scores: dict[str, float], baseline: dict[str, float], versus: dict[str, Improvement]
) -> Gate:
    """``beats_baseline``: ranks better than the prior by more than chance, and a lower log loss."""
    auc, loss = versus["roc_auc"], versus["log_loss"]
    passed = auc.beyond_chance and loss.estimate > 0
    return Gate(
        BEATS_BASELINE,
        passed,
        f"ROC AUC {scores['roc_auc']:.4f} vs baseline {baseline['roc_auc']:.4f} "
        f"(better by {auc.estimate:.4f}, one-sided {auc.level:.0%} lower bound {auc.lower:.4f} "
        f"{'>' if auc.beyond_chance else '<='} 0 over {auc.units} visitors), log loss "
        f"{scores['log_loss']:.4f} vs {baseline['log_loss']:.4f} "
        f"({'lower' if loss.estimate > 0 else 'not lower'}; lower bound of the gain {loss.lower:.4f})",
        {
            "baseline_roc_auc": baseline["roc_auc"],
            "baseline_log_loss": baseline["log_loss"],
            "roc_auc_improvement": auc.estimate,
            "roc_auc_lower_bound": auc.lower,
            "log_loss_improvement": loss.estimate,
            "log_loss_lower_bound": loss.lower,
            "level": auc.level,
            "resamples": auc.resamples,
            "units": auc.units,
        },
    )


def _champion_gate(
    challenger: str,
    challenger_scores: dict[str, float],
    champion: str | None,
    champion_scores: dict[str, float] | None,
    versus: Improvement | None,
    policy: PromotionPolicy,
    holdout: dict[str, Any],
    champion_error: str | None,
) -> Gate:
    """``beats_champion``: passes with no champion yet, fails when the champion cannot be scored."""
    metric = policy.metric
    if champion_error or (champion is not None and versus is None):
        return Gate(
            BEATS_CHAMPION,
            False,
            f"the champion {champion} cannot be scored ({champion_error or 'no probabilities'}); "
            "promote a version explicitly once it is repaired or replaced",
            {"champion": champion},
        )
    if champion is None or champion_scores is None or versus is None:
        return Gate(
            BEATS_CHAMPION, True, f"no champion yet: {challenger} becomes the first", {"champion": None}
        )
    gain = policy.improvement(challenger_scores[metric], champion_scores[metric])
    passed = versus.lower >= policy.margin and versus.lower > 0
    return Gate(
        BEATS_CHAMPION,
        passed,
        f"{metric} {challenger_scores[metric]:.4f} ({challenger}) vs {champion_scores[metric]:.4f} "
        f"({champion}) on the same {holdout.get('rows', '?')} held-out rows: "
        f"{'better' if gain > 0 else 'not better'} by {abs(gain):.4f}, one-sided {versus.level:.0%} "
        f"lower bound {versus.lower:.4f} over {versus.units} visitors "
        f"{'reaches' if passed else 'does not reach'} the margin {policy.margin:.4f}",
        {
            "champion": champion,
            "challenger_score": challenger_scores[metric],
            "champion_score": champion_scores[metric],
            "improvement": gain,
            "lower_bound": versus.lower,
            "level": versus.level,
            "resamples": versus.resamples,
            "units": versus.units,
        },
    )
