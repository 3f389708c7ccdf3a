"""Materialization metadata every table asset reports the same way (schema, rows, lineage, preview)."""

from __future__ import annotations

import html

import dagster as dg
import pandas as pd

from platform_assets.engines.base import Column

SAMPLE_ROWS = 5
PREVIEW_ROWS = 5  # rows of a table asset's partition shown in its materialization ("preview")
_CELL_CHARS = 80
# a lineage table lists at most this many columns, each with at most this many sources
LINEAGE_MAX_COLUMNS = 200
LINEAGE_MAX_SOURCES = 20


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
    """The first ``limit`` rows as a markdown table (long cells cut, HTML escaped), for check
    metadata and the previews of table assets."""
    head = rows.head(limit).astype(object)
    for column in head.columns:
        head[column] = [_cell(v) for v in head[column]]
    return dg.MetadataValue.md(head.to_markdown(index=False) if len(head) else "(none)")


def lineage_markdown(lineage: dg.TableColumnLineage, columns: list[str] | None = None) -> dg.MetadataValue:
    """``dagster/column_lineage`` as a markdown table (column -> upstream asset.column): the
    open-source UI shows the table, while it draws the lineage itself only in Dagster+.

    ``columns`` (the table's, in order) also lists the columns computed from no input column."""
    deps = lineage.deps_by_column
    names = list(dict.fromkeys([*(columns or []), *deps]))
    lines = ["| column | computed from |", "|---|---|"]
    for name in names[:LINEAGE_MAX_COLUMNS]:
        sources = [f"{d.asset_key.to_user_string()}.{d.column_name}" for d in deps.get(name, [])]
        shown = ", ".join(_cell(s) for s in sources[:LINEAGE_MAX_SOURCES])
        if len(sources) > LINEAGE_MAX_SOURCES:
            shown += f", … {len(sources) - LINEAGE_MAX_SOURCES} more"
        lines.append(f"| {_cell(name)} | {shown or '(no input column)'} |")
    if len(names) > LINEAGE_MAX_COLUMNS:
        lines.append(f"| … {len(names) - LINEAGE_MAX_COLUMNS} more columns | |")
    return dg.MetadataValue.md("\n".join(lines))


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
