"""When a monitored day asks for a new model: the retraining policy, read from ``PLATFORM_RETRAIN_*``.

The drift trigger compares the day's share of drifted feature columns with ``drift_share``; its
default is the share the drift alarm was calibrated with (``benchmarks/RESULTS.md``, "drift
alarm"). The quality trigger needs the day's labels: at least ``min_labelled_rows`` labelled
sessions whose ROC AUC is below ``min_roc_auc``. No Dagster here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from platform_assets.lib.ml.drift import DEFAULT_DRIFT_RULE

# The share the drift alarm was calibrated with (benchmarks/RESULTS.md, "drift alarm").
DEFAULT_DRIFT_SHARE = DEFAULT_DRIFT_RULE.drift_share


@dataclass(frozen=True)
class RetrainPolicy:
    """Thresholds of the retraining triggers."""

    drift_share: float = DEFAULT_DRIFT_SHARE
    min_roc_auc: float = 0.6
    min_labelled_rows: int = 200
    holdout_days: int = 2  # the retraining run's held-out days (the newest)

    def __post_init__(self) -> None:
        for name in ("drift_share", "min_roc_auc"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and 0 < value <= 1)
            ):
                raise ValueError(f"{env_name(name)}={value!r}: expected a number in (0, 1]")
        for name in ("min_labelled_rows", "holdout_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{env_name(name)}={value!r}: expected a whole number >= 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RetrainPolicy:
        """The policy from ``PLATFORM_RETRAIN_<FIELD>`` variables (unset or blank: the default)."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(env_name(field.name), "").strip()
            if not raw:
                continue
            kind = int if field.type in ("int", int) else float
            try:
                values[field.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{env_name(field.name)}={raw!r}: expected {kind.__name__}") from None
        return cls(**values)

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


def env_name(field: str) -> str:
    return f"PLATFORM_RETRAIN_{field.upper()}"
