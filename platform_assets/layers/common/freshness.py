"""How fresh each layer must be: a ``dg.FreshnessPolicy`` on every asset, evaluated by the daemon.

Logs land daily, so every daily layer (raw files, lake, marts, features, drift report) must have
been materialized within ``daily_hours`` (default 26: a day plus two hours of grace), and warns an
hour before; the model is retrained weekly and fails after ``model_hours`` (default 8 days). The
UI shows the status on each asset; ``dagster dev`` (its freshness daemon) keeps it current.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg

DAILY_GROUPS = ("raw", "lake", "warehouse", "features", "predictions", "monitoring")
MODEL_GROUPS = ("models",)
_MIN_WINDOW = dt.timedelta(minutes=1)  # Dagster's smallest window


@dataclass(frozen=True)
class FreshnessWindows:
    """Hours after which an asset is stale (``PLATFORM_FRESHNESS_DAILY_HOURS`` / ``_MODEL_HOURS``)."""

    daily_hours: float = 26.0
    model_hours: float = 8 * 24.0

    def __post_init__(self) -> None:
        for name in ("daily_hours", "model_hours"):
            hours = getattr(self, name)
            if not (math.isfinite(hours) and dt.timedelta(hours=hours) >= _MIN_WINDOW):
                raise ValueError(f"{_env(name)}={hours!r}: expected a number of hours of at least 1/60")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FreshnessWindows:
        values = {}
        for name in ("daily_hours", "model_hours"):
            raw = environ.get(_env(name), "").strip()
            if raw:
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ValueError(f"{_env(name)}={raw!r}: expected a number of hours") from None
        return cls(**values)

    def policy_for(self, group: str | None) -> dg.FreshnessPolicy | None:
        if group in DAILY_GROUPS:
            return time_window_policy(self.daily_hours)
        if group in MODEL_GROUPS:
            return time_window_policy(self.model_hours)
        return None


def _env(name: str) -> str:
    return f"PLATFORM_FRESHNESS_{name.upper()}"


def time_window_policy(hours: float) -> dg.FreshnessPolicy:
    """Fail after ``hours`` without a materialization; warn an hour earlier (when that fits)."""
    fail = dt.timedelta(hours=hours)
    warn = fail - dt.timedelta(hours=1)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn if warn >= _MIN_WINDOW else None)


def with_freshness(assets: Iterable[dg.AssetsDefinition], windows: FreshnessWindows) -> list:
    """The assets with their layer's freshness policy attached to each spec."""

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        policy = windows.policy_for(spec.group_name)
        return dg.apply_freshness_policy(spec, policy) if policy else spec

    return dg.map_asset_specs(attach, list(assets))
