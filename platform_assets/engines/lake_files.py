"""The lake's Parquet files as both engines write them: declared column types, and publication.

Column names and types of a lake table are declared once, in the ``types:`` header of its SQL file
(``sql/lake/events.sql``, ``sql/lake/quarantine.sql``); both engines write them and the lake checks
read them. Publication makes one ingest's staged files current in one catalog commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from platform_assets.engines.base import Column, IngestResult
from platform_assets.lib.lake_catalog import LakeCatalog, publish_ingest
from platform_assets.lib.layout import DataLayout
from platform_assets.sql import load

# DuckDB type names used in the ``types:`` headers, and the Arrow type each is written as.
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


def lake_types(table: str) -> dict[str, str]:
    """Column name -> DuckDB type of the lake table ``table``, in order (its ``types:`` header)."""
    return {str(name): str(kind) for name, kind in load(f"lake/{table}").meta["types"].items()}


def arrow_schema(types: Mapping[str, str]) -> pa.Schema:
    """The Arrow schema of declared ``types`` (see :func:`lake_types`)."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in types.items()])


def duckdb_type(arrow_type: pa.DataType) -> str:
    """How DuckDB names an Arrow type, for the schema metadata shown in the UI."""
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if arrow_type == pa.large_string():
        return "VARCHAR"
    names = {arrow: name for name, arrow in _ARROW_TYPES.items()}
    return names.get(arrow_type, str(arrow_type).upper())


def publish_staged_ingest(
    layout: DataLayout,
    stage: Path,
    *,
    fid: str,
    source_file: str,
    landed: Path,
    staged_days: Mapping[str, Path],
    events_by_day: Mapping[str, int],
    staged_quarantine: Path,
    lines: int,
    reasons: Counter[str],
    stream_error: str | None,
    event_columns: list[Column],
    sha256: str | None = None,
    catalog: LakeCatalog | None = None,
) -> IngestResult:
    """Publish one landed file's staged fragments and quarantine as one unit
    (:func:`~platform_assets.lib.lake_catalog.publish_ingest`) and say what they hold.

    A damaged stream adds one marker row to the quarantine (``reasons``) that is not a line.
    ``catalog``: another lake than the events lake (the decision log's)."""
    quarantined = sum(reasons.values()) - (1 if stream_error else 0)
    published = publish_ingest(
        catalog or layout.catalog,
        fid=fid,
        source_file=source_file,
        landed=landed,
        owner=stage,
        staged_days=staged_days,
        rows_by_day=events_by_day,
        staged_quarantine=staged_quarantine,
        lines=lines,
        quarantined=quarantined,
        sha256=sha256,
    )
    return IngestResult(
        lines=lines,
        events_by_day=dict(sorted(events_by_day.items())),
        quarantined=quarantined,
        reasons=dict(reasons.most_common()),
        stream_error=stream_error,
        event_columns=event_columns,
        fragments=[p.relative_to(layout.root).as_posix() for p in published],
        sha256=sha256,
    )
