"""When a monitored day asks for a new model: the retraining policy (set by ``PLATFORM_RETRAIN_*``).

The drift trigger compares the day's share of drifted feature columns with ``drift_share``; its
default is the share the drift alarm was calibrated with (``benchmarks/RESULTS.md``, "drift
alarm"). The quality trigger needs the day's labels: at least ``min_labelled_rows`` labelled
sessions whose ROC AUC is below ``min_roc_auc``. No Dagster here.
"""

from __future__ import annotations

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
        """Why a ``model_performance`` summary asks for retraining, or None."""
        auc, labelled = metadata.get("quality_roc_auc"), metadata.get("labelled_rows") or 0
        if isinstance(auc, int | float) and labelled >= self.min_labelled_rows and auc < self.min_roc_auc:
            return f"ROC AUC {auc:.3f} < {self.min_roc_auc:.3f} on {labelled} labelled sessions"
        return None
