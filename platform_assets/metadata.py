"""Materialization metadata every table asset reports the same way (schema, rows, lineage)."""

from __future__ import annotations

import dagster as dg

from platform_assets.engines.base import Column


def table_metadata(columns: list[Column], rows: int, descriptions: dict[str, str] | None = None) -> dict:
    """``dagster/row_count`` and ``dagster/column_schema`` (with column descriptions when known)."""
    descriptions = descriptions or {}
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.type, description=descriptions.get(c.name)) for c in columns]
    )
    return {"dagster/row_count": rows, "dagster/column_schema": schema}


def latest_metadata(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dict[str, object] | None:
    """The metadata values of an asset's (partition's) latest materialization, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
