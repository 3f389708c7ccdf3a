"""When a monitored day asks for a new model: the retraining policy (set by ``PLATFORM_RETRAIN_*``).

The drift trigger compares the day's share of drifted feature columns with ``drift_share``; its
default is the share the drift alarm was calibrated with (``benchmarks/RESULTS.md``, "drift
alarm"). The quality triggers need at least ``min_labelled_rows`` labelled sessions on the day:
its ROC AUC below ``min_roc_auc``, or a calibration change: the count of positives over the
day and the day before (``model_performance``'s ``calibration_window_*``) differs from the sum of
the champion's probabilities by more than chance at level ``calibration_alpha`` (two-sided z test;
under calibration the count has mean sum(p) and variance sum(p(1 - p))). Conversion that halves
while the features stay the same moves no feature and barely the AUC, but this count.
No Dagster here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_assets.settings import RetrainSettings


@dataclass(frozen=True)
class RetrainPolicy(RetrainSettings):
    """The retraining triggers, with the thresholds (validated) of :class:`RetrainSettings`."""

    def drift_reason(self, metadata: Mapping[str, Any]) -> str | None:
        """Why a ``feature_drift`` summary asks for retraining, or None."""
        share = metadata.get("drift_share")
        if isinstance(share, int | float) and share >= self.drift_share:
            columns = ", ".join(metadata.get("drifted_columns") or [])
            return f"feature drift share {share:.2f} >= {self.drift_share:.2f} ({columns})"
        return None

    def quality_reason(self, metadata: Mapping[str, Any]) -> str | None:
        """Why a ``model_performance`` summary asks for retraining (ROC AUC, calibration), or None."""
        labelled = metadata.get("labelled_rows") or 0
        if labelled < self.min_labelled_rows:
            return None
        reasons = []
        auc = metadata.get("quality_roc_auc")
        if _number(auc) and auc < self.min_roc_auc:
            reasons.append(f"ROC AUC {auc:.3f} < {self.min_roc_auc:.3f} on {labelled} labelled sessions")
        calibration = self.calibration_reason(metadata)
        if calibration:
            reasons.append(calibration)
        return "; ".join(reasons) or None

    def calibration_reason(self, metadata: Mapping[str, Any]) -> str | None:
        """Why the pooled calibration test of a ``model_performance`` summary fires, or None."""
        z = metadata.get("calibration_window_z")
        positives, expected = (
            metadata.get("calibration_window_positives"),
            metadata.get("calibration_window_expected"),
        )
        rows, days = metadata.get("calibration_window_rows"), metadata.get("calibration_window_days") or []
        if not (_number(z) and _number(positives) and _number(expected) and _number(rows) and rows > 0):
            return None
        p_value = math.erfc(abs(z) / math.sqrt(2))  # two-sided, standard normal
        if p_value >= self.calibration_alpha:
            return None
        window = f"{days[0]}..{days[-1]}" if days else "the day"
        return (
            f"calibration: {positives:.0f} positives vs {expected:.1f} predicted on {rows:.0f} labelled "
            f"sessions ({window}): rate {positives / rows:.3f} vs mean prediction {expected / rows:.3f}, "
            f"z {z:+.2f}, p {p_value:.2g} < {self.calibration_alpha:g}"
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
