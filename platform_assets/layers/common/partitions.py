"""The two ways the platform cuts its data.

- ``log_files``: one dynamic partition per landed file (its key is the path relative to the
  landing folder). Raw and lake work is done per file, so each file is read once and a new file
  costs only its own size.
- ``event_days``: one daily partition per UTC event date, from ``PLATFORM_PARTITIONS_START`` (where
  the data starts: the UI then shows health, not years of empty days). Marts, features and
  monitoring are per day: a file holding several days (late events, sessions across midnight)
  updates each.

The daily assets are declared with ``event_days`` (the default start); the definitions replace it
with :func:`event_days_from` the configured start (:func:`with_event_days`), and hand that same
definition to the sensors, so assets, jobs and sensors agree on the range.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from platform_assets.layers.common.names import LOG_FILES_PARTITIONS
from platform_assets.settings import DEFAULT_PARTITIONS_START

log_files = dg.DynamicPartitionsDefinition(name=LOG_FILES_PARTITIONS)


def event_days_from(start: str) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from ``start`` (YYYY-MM-DD); end_offset=1: today's partition exists
    while today's logs are still arriving."""
    return dg.DailyPartitionsDefinition(start_date=start, end_offset=1, timezone="UTC")


# What the daily assets are declared with; the definitions swap in the configured start.
event_days = event_days_from(DEFAULT_PARTITIONS_START)


def with_event_days(
    assets: Iterable[dg.AssetsDefinition], days: dg.DailyPartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """The assets with every spec declared on ``event_days`` partitioned by ``days`` instead."""

    def configured(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def != event_days:
            return spec
        return spec.replace_attributes(partitions_def=days)

    return list(dg.map_asset_specs(configured, list(assets)))
