"""Materialization metadata every table asset reports the same way (schema, rows, lineage)."""

from __future__ import annotations

import html

import dagster as dg
import pandas as pd

from platform_assets.engines.base import Column

SAMPLE_ROWS = 5
_CELL_CHARS = 80


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


def sample_markdown(rows: pd.DataFrame, limit: int = SAMPLE_ROWS) -> dg.MetadataValue:
    """The first ``limit`` rows as a markdown table (long cells cut), for check metadata."""
    head = rows.head(limit).astype(object)
    for column in head.columns:
        head[column] = [_cell(v) for v in head[column]]
    return dg.MetadataValue.md(head.to_markdown(index=False) if len(head) else "(none)")


def _cell(value: object) -> str:
    try:
        missing = bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array cell
        missing = False
    if missing:
        return "NULL"
    # cells carry user data (raw lines, paths, agents): HTML in them is shown, never run
    text = html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"
