"""How fresh each layer must be: a ``dg.FreshnessPolicy`` on every asset, evaluated by the daemon.

Logs land daily, so every daily layer (raw files, lake, marts, features, drift report) must have
been materialized within ``daily_hours`` (default 26: a day plus two hours of grace), and warns an
hour before; the model is retrained weekly and fails after ``model_hours`` (default 8 days). The
UI shows the status on each asset; ``dagster dev`` (its freshness daemon) keeps it current.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from platform_assets.layers.common.names import (
    FEATURES_GROUP,
    LAKE_GROUP,
    MODELS_GROUP,
    MONITORING_GROUP,
    PREDICTIONS_GROUP,
    RAW_GROUP,
    WAREHOUSE_GROUP,
)
from platform_assets.settings import FreshnessSettings

DAILY_GROUPS = (RAW_GROUP, LAKE_GROUP, WAREHOUSE_GROUP, FEATURES_GROUP, PREDICTIONS_GROUP, MONITORING_GROUP)
MODEL_GROUPS = (MODELS_GROUP,)
_MIN_WINDOW = dt.timedelta(minutes=1)  # Dagster's smallest window


def policy_for(windows: FreshnessSettings, group: str | None) -> dg.FreshnessPolicy | None:
    """The freshness policy of an asset of ``group`` (None: the group has none)."""
    if group in DAILY_GROUPS:
        return time_window_policy(windows.daily_hours)
    if group in MODEL_GROUPS:
        return time_window_policy(windows.model_hours)
    return None


def time_window_policy(hours: float) -> dg.FreshnessPolicy:
    """Fail after ``hours`` without a materialization; warn an hour earlier (when that fits)."""
    fail = dt.timedelta(hours=hours)
    warn = fail - dt.timedelta(hours=1)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn if warn >= _MIN_WINDOW else None)


def with_freshness(assets: Iterable[dg.AssetsDefinition], windows: FreshnessSettings) -> list:
    """The assets with their layer's freshness policy attached to each spec."""

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        policy = policy_for(windows, spec.group_name)
        return dg.apply_freshness_policy(spec, policy) if policy else spec

    return dg.map_asset_specs(attach, list(assets))
