"""Did the challenger arm of a live traffic split predict better than the champion arm?

Design (the error rates below are measured in platform_assets_tests/models/test_ab_test.py):

- **Unit.** Assignment is sticky per visitor, so a visitor's sessions share their arm and are not
  independent: the unit is the visitor. Its outcome ``y`` is its mean per-session log loss, and
  the estimand is the difference of the arms' expected ``y`` (challenger minus champion:
  negative means the challenger predicts better).
- **Peeking.** The result is looked at every day and the experiment stops as soon as it is
  decisive, so a fixed-horizon test would inflate its false-decision rate with every look. The
  decision uses an *asymptotic confidence sequence* (Waudby-Smith, Arbour, Sinha, Kennedy and
  Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences", Annals of
  Statistics 2024): an interval that covers the true difference at every look at once with
  probability ``1 - alpha``, however many looks are taken. The experiment is decisive when it
  excludes 0, and ends undecided when its budget of sessions is spent.
- **Estimator.** With the known assignment probability ``pi`` of the challenger, each visitor
  ``i`` (in order of first session) contributes the augmented inverse-probability-weighted term
  ``psi_i = m1 - m0 + Z (y - m1) / pi - (1 - Z) (y - m0) / (1 - pi)``, where ``m1`` and ``m0``
  are the arms' means over the visitors *before* ``i`` (predictable, so ``E[psi_i | past]`` is the
  difference whatever they are; they only shrink the variance). The sequence is the paper's
  Theorem 2.2 over the ``psi``.
- **Shown, not decided on.** Per arm: sessions, visitors, conversions, log loss, ROC AUC and
  calibration in the large, each with a fixed-time 95% interval over visitors (delta method for the
  ratios, a visitor bootstrap for the AUC). These describe the arms; only the sequence decides.

No Dagster here: the A/B asset and the experiment sensor call :func:`analyse`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from platform_assets.lib.ml.paired_bootstrap import resample_weights, row_losses, weighted_auc

ALPHA = 0.05
# Visitors per arm before any decision: the sequence's coverage is asymptotic, and visitor log
# losses are skewed (a conversion the model missed costs ten times a typical session). Peeking 30
# times at 1,000 simulated A/A tests (seeds 0-999) with 10% to the challenger decided wrongly in 6.0% of them
# with no minimum, 3.7% with 100 and 1.9% with 200 (test_ab_test.py states the rate it guards).
MIN_VISITORS_PER_ARM = 200
AUC_RESAMPLES = 200
SEED = 21
_Z95 = 1.959963984540054
_CHUNK_CELLS = 4_000_000

DECISIONS = ("continue", "challenger_better", "challenger_worse", "budget_spent")


@dataclass(frozen=True)
class ArmSummary:
    """What one arm's sessions show, with fixed-time 95% intervals over visitors."""

    arm: str
    version: str
    sessions: int
    visitors: int
    conversions: int
    conversion_rate: float
    conversion_rate_ci: tuple[float, float]
    log_loss: float
    log_loss_ci: tuple[float, float]
    roc_auc: float | None
    roc_auc_ci: tuple[float, float] | None
    mean_probability: float
    calibration_gap: float  # mean predicted probability minus the observed conversion rate


@dataclass(frozen=True)
class ExperimentResult:
    """The arms, the always-valid interval of the difference and the decision at this look."""

    champion: ArmSummary
    challenger: ArmSummary
    difference: float  # challenger minus champion, visitor mean log loss (negative: challenger better)
    interval: tuple[float, float]  # holds the true difference at every look with prob. 1 - alpha
    alpha: float
    challenger_share: float
    sessions: int
    budget_sessions: int
    decision: str
    reason: str
    design: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def confidence_sequence(psi: np.ndarray, alpha: float, planned_units: int) -> tuple[float, float, float]:
    """``(mean, lower, upper)`` of the two-sided asymptotic confidence sequence after the last of
    ``psi`` (Theorem 2.2 of Waudby-Smith et al.), tuned to be tightest at ``planned_units``."""
    if len(psi) == 0:
        return math.nan, -math.inf, math.inf
    mean, lower, upper = running_confidence_sequence(psi, alpha, planned_units)
    return float(mean[-1]), float(lower[-1]), float(upper[-1])


def running_confidence_sequence(
    psi: np.ndarray, alpha: float, planned_units: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sequence after each prefix of ``psi``: ``(means, lowers, uppers)``, one per unit
    (infinite bounds before two units). All of them hold the true mean at once with probability
    ``1 - alpha`` (asymptotically), which is what makes looking at every one of them safe."""
    psi = np.asarray(psi, dtype=float)
    t = np.arange(1, len(psi) + 1, dtype=float)
    mean = np.cumsum(psi) / t
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (np.cumsum(psi * psi) - t * mean * mean) / (t - 1)
        sd = np.sqrt(np.maximum(variance, 0.0))
    log_term = -2 * math.log(alpha)
    rho2 = (log_term + math.log(log_term + 1)) / max(planned_units, 1)
    radius = sd * np.sqrt(2 * (t * rho2 + 1) / (t * t * rho2) * np.log(np.sqrt(t * rho2 + 1) / alpha))
    radius[t < 2] = np.inf
    return mean, mean - radius, mean + radius


def aipw_terms(first_seen: np.ndarray, challenger: np.ndarray, y: np.ndarray, share: float) -> np.ndarray:
    """The ``psi`` of each visitor in order of ``first_seen`` (see the module docstring)."""
    order = np.argsort(first_seen, kind="stable")
    z, y = challenger[order].astype(float), y[order].astype(float)
    # each arm's mean over the visitors before this one (0 until the arm has one)
    n1, n0 = np.cumsum(z) - z, np.cumsum(1 - z) - (1 - z)
    s1, s0 = np.cumsum(z * y) - z * y, np.cumsum((1 - z) * y) - (1 - z) * y
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = np.where(n1 > 0, s1 / n1, 0.0)
        m0 = np.where(n0 > 0, s0 / n0, 0.0)
    return m1 - m0 + z * (y - m1) / share - (1 - z) * (y - m0) / (1 - share)


def analyse(
    visitors: np.ndarray,
    session_starts: np.ndarray,
    arms: np.ndarray,
    versions: np.ndarray,
    probabilities: np.ndarray,
    outcomes: np.ndarray,
    *,
    challenger_share: float,
    budget_sessions: int,
    planned_visitors: int | None = None,
    alpha: float = ALPHA,
    min_visitors_per_arm: int = MIN_VISITORS_PER_ARM,
) -> ExperimentResult:
    """The experiment's state from every session served so far by its two arms.

    One row per session: the visitor, when it started (orders the visitors), the arm that served
    it (``"champion"`` or ``"challenger"``), the model version, the served probability and the
    realized outcome (1 converted). ``challenger_share`` is the assignment probability of the
    challenger among the two arms' visitors.
    """
    arms = np.asarray(arms).astype(str)
    if not 0 < challenger_share < 1:
        raise ValueError(f"challenger_share must be in (0, 1), got {challenger_share!r}")
    unknown = set(np.unique(arms)) - {"champion", "challenger"}
    if unknown:
        raise ValueError(f"arms must be champion or challenger, got {sorted(unknown)}")
    visitors = np.asarray(visitors).astype(str)
    y = np.asarray(outcomes, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    losses = row_losses("log_loss", y, p)
    codes, first_rows = _visitor_codes(visitors)
    visitor_arm = _one_arm_per_visitor(codes, arms)
    visitor_loss = np.bincount(codes, losses) / np.bincount(codes)
    starts = np.asarray(session_starts).astype("datetime64[us]").astype("int64")
    first_seen = np.full(len(first_rows), np.iinfo(np.int64).max)
    np.minimum.at(first_seen, codes, starts)
    psi = aipw_terms(first_seen, visitor_arm == "challenger", visitor_loss, challenger_share)
    planned = planned_visitors or max(len(psi), 1)
    difference, lower, upper = confidence_sequence(psi, alpha, planned)
    summaries = {
        arm: _summary(arm, arms == arm, np.asarray(versions).astype(str), codes, y, p, losses)
        for arm in ("champion", "challenger")
    }
    decision, reason = _decide(summaries, lower, upper, len(y), budget_sessions, min_visitors_per_arm)
    return ExperimentResult(
        champion=summaries["champion"],
        challenger=summaries["challenger"],
        difference=difference,
        interval=(lower, upper),
        alpha=alpha,
        challenger_share=challenger_share,
        sessions=len(y),
        budget_sessions=budget_sessions,
        decision=decision,
        reason=reason,
        design={
            "unit": "visitor",
            "metric": "visitor mean log loss, challenger minus champion",
            "estimator": "AIPW with predictable arm means",
            "interval": "asymptotic confidence sequence (Waudby-Smith et al. 2024, Thm 2.2)",
            "planned_visitors": planned,
            "min_visitors_per_arm": min_visitors_per_arm,
        },
    )


def _decide(
    arms: dict[str, ArmSummary], lower: float, upper: float, sessions: int, budget: int, min_visitors: int
) -> tuple[str, str]:
    if min(a.visitors for a in arms.values()) < min_visitors:
        if sessions >= budget:
            return "budget_spent", f"budget of {budget} sessions spent before {min_visitors} visitors per arm"
        return "continue", f"fewer than {min_visitors} visitors in an arm"
    if upper < 0:
        return "challenger_better", f"log loss difference interval [{lower:.4f}, {upper:.4f}] is below 0"
    if lower > 0:
        return "challenger_worse", f"log loss difference interval [{lower:.4f}, {upper:.4f}] is above 0"
    if sessions >= budget:
        return (
            "budget_spent",
            f"budget of {budget} sessions spent; interval [{lower:.4f}, {upper:.4f}] holds 0",
        )
    return "continue", f"interval [{lower:.4f}, {upper:.4f}] holds 0"


def _visitor_codes(visitors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, first_rows, codes = np.unique(visitors, return_index=True, return_inverse=True)
    return codes, first_rows


def _one_arm_per_visitor(codes: np.ndarray, arms: np.ndarray) -> np.ndarray:
    """The visitor's arm; assignment is sticky, so a visitor in both arms is a broken split."""
    per_visitor = np.empty(codes.max() + 1 if len(codes) else 0, dtype=object)
    per_visitor[codes] = arms
    mixed = np.flatnonzero(per_visitor[codes] != arms)
    if len(mixed):
        raise ValueError(
            f"{len(np.unique(codes[mixed]))} visitors were served by both arms: the split is not sticky"
        )
    return per_visitor.astype(str)


def _summary(
    arm: str,
    rows: np.ndarray,
    versions: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    losses: np.ndarray,
) -> ArmSummary:
    sessions = int(rows.sum())
    arm_versions = sorted(set(versions[rows]))
    if sessions == 0:
        nan2 = (math.nan, math.nan)
        return ArmSummary(
            arm,
            ",".join(arm_versions),
            0,
            0,
            0,
            math.nan,
            nan2,
            math.nan,
            nan2,
            None,
            None,
            math.nan,
            math.nan,
        )
    _, c = np.unique(codes[rows], return_inverse=True)
    y_a, p_a, l_a = y[rows], p[rows], losses[rows]
    conversion, conversion_ci = _ratio_ci(np.bincount(c, y_a), np.bincount(c).astype(float))
    log_loss, log_loss_ci = _ratio_ci(np.bincount(c, l_a), np.bincount(c).astype(float))
    auc, auc_ci = _auc_ci(y_a, p_a, c)
    return ArmSummary(
        arm=arm,
        version=",".join(arm_versions),
        sessions=sessions,
        visitors=int(c.max() + 1),
        conversions=int(y_a.sum()),
        conversion_rate=conversion,
        conversion_rate_ci=conversion_ci,
        log_loss=log_loss,
        log_loss_ci=log_loss_ci,
        roc_auc=auc,
        roc_auc_ci=auc_ci,
        mean_probability=float(p_a.mean()),
        calibration_gap=float(p_a.mean() - y_a.mean()),
    )


def _ratio_ci(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, tuple[float, float]]:
    """``sum(num) / sum(den)`` over visitors with a delta-method 95% interval (visitors independent)."""
    n = len(numerator)
    ratio = float(numerator.sum() / denominator.sum())
    if n < 2:
        return ratio, (math.nan, math.nan)
    residual = numerator - ratio * denominator
    se = math.sqrt(float(residual.var(ddof=1)) * n) / float(denominator.sum())
    return ratio, (ratio - _Z95 * se, ratio + _Z95 * se)


def _auc_ci(
    y: np.ndarray, p: np.ndarray, codes: np.ndarray
) -> tuple[float | None, tuple[float, float] | None]:
    """ROC AUC with a visitor-bootstrap percentile 95% interval; None without both outcomes."""
    if y.min() == y.max():
        return None, None
    auc = float(weighted_auc(y, p, np.ones((1, len(y))))[0])
    _, weights = resample_weights(codes, AUC_RESAMPLES, SEED)
    step = max(1, _CHUNK_CELLS // len(y))  # resamples scored at once: bounded memory
    resampled = np.concatenate(
        [weighted_auc(y, p, weights[i : i + step][:, codes]) for i in range(0, len(weights), step)]
    )
    low, high = np.nanquantile(resampled, [0.025, 0.975])
    return auc, (float(low), float(high))
