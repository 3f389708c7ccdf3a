"""Lake layer: each landed file parsed into date-partitioned Parquet events plus a quarantine."""

import hashlib
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from platform_assets.engines.base import IngestResult
from platform_assets.engines.dialect import duckdb_prelude, spark_prelude
from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.metadata import (
    PREVIEW_ROWS,
    latest_metadata,
    sample_markdown,
    table_metadata,
)
from platform_assets.layers.common.names import ENGINE_TAG, INGEST_DECISIONS_JOB
from platform_assets.layers.common.partitions import log_files
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.raw.assets import LOG_FILES
from platform_assets.lib.decision_log import is_decision_log
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets.lib.line_reader import file_facts
from platform_assets.sql import load

EVENTS = dg.AssetKey(["lake", "events"])
QUARANTINE = dg.AssetKey(["lake", "quarantine"])
LINES_RECONCILE = "lines_reconcile"


# Parsing is this SQL plus the engine's dialect functions: a change to either changes the version,
# and the UI marks the lake and everything below it as unsynced.
LAKE_CODE_VERSION = hashlib.sha256(
    "\n".join(
        [
            *(load(f"lake/{name}").sql for name in ("parse_lines", "events", "quarantine")),
            *duckdb_prelude(),
            *spark_prelude(),
        ]
    ).encode()
).hexdigest()[:12]


def _lake_spec(key: dg.AssetKey, sql: str) -> dg.AssetSpec:
    """A lake table written per landed file; its description is its SQL file's."""
    return dg.AssetSpec(
        key,
        description=load(sql).description,
        deps=[LOG_FILES],
        kinds={"parquet", "duckdb", "spark"},
        group_name="lake",
        owners=["team:data-platform"],
        code_version=LAKE_CODE_VERSION,
    )


@dg.multi_asset(
    specs=[_lake_spec(EVENTS, "lake/events"), _lake_spec(QUARANTINE, "lake/quarantine")],
    check_specs=[
        dg.AssetCheckSpec(
            LINES_RECONCILE,
            asset=EVENTS,
            blocking=True,
            description="Every input line of the file is an event or a quarantine row: "
            "lines counted in the raw file = lake events + quarantined lines.",
        )
    ],
    partitions_def=log_files,
    name="lake_ingest",
)
def lake_ingest(context: dg.AssetExecutionContext, engine: PlatformEngine, storage: PlatformStorage):
    """Parse one landed file into lake events (per UTC day) and its quarantine, atomically."""
    key = context.partition_key
    if is_decision_log(key):
        raise dg.Failure(
            f"{key} is the prediction server's decision log: it is ingested by the "
            f"{INGEST_DECISIONS_JOB} job into the decision lake, not into the events lake",
            allow_retries=False,
        )
    path = storage.layout.landed_path(key)
    result = engine.ingest_log_file(str(path), key, file_id(key))

    raw = latest_metadata(context.instance, LOG_FILES, key)
    if raw is None:  # the lake was asked for without its raw partition: count independently now
        context.log.info(f"{key}: no raw materialization found, counting lines directly")
        facts = file_facts(path)
        raw_lines, raw_sha256 = facts.lines, facts.sha256
    else:
        raw_lines, raw_sha256 = int(raw["lines"]), str(raw["sha256"])
    # The tables are a function of the file's bytes and the parsing code: the same file parsed by
    # the same code gets the same version, so re-ingesting it leaves the marts in sync.
    version = dg.DataVersion(hashlib.sha256(f"{raw_sha256}:{LAKE_CODE_VERSION}".encode()).hexdigest()[:16])

    events_metadata = {
        **table_metadata(result.event_columns, result.events, load("lake/events").columns),
        "events_by_day": dg.MetadataValue.json(result.events_by_day),
        "days": dg.MetadataValue.json(sorted(result.events_by_day)),
        "fragments": dg.MetadataValue.json(result.fragments),
        "lines": result.lines,
        "engine": result.engine,
        "input_bytes": result.input_bytes,
    }
    preview = _preview(storage.layout, result.fragments)
    if preview is not None:
        events_metadata["preview"] = preview
    tags = {ENGINE_TAG: result.engine}
    yield dg.MaterializeResult(asset_key=EVENTS, metadata=events_metadata, data_version=version, tags=tags)
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": result.quarantined,
            "reasons": dg.MetadataValue.json(result.reasons),
            "quarantine_share": result.quarantined / result.lines if result.lines else 0.0,
            "stream_error": result.stream_error or "",
        },
        data_version=version,
        tags=tags,
    )
    yield lines_reconcile(key, path, raw_lines, raw_sha256, result)


def _preview(layout: DataLayout, fragments: list[str]) -> dg.MetadataValue | None:
    """The first rows of the file's first event fragment (one batch read, never the whole file);
    None when it has no events or the fragment cannot be read."""
    if not fragments:
        return None
    try:
        batch = next(pq.ParquetFile(layout.root / fragments[0]).iter_batches(batch_size=PREVIEW_ROWS), None)
    except (OSError, ValueError):  # a preview is a courtesy: it never fails the ingest it shows
        return None
    return None if batch is None else sample_markdown(batch.to_pandas(), limit=PREVIEW_ROWS)


def lines_reconcile(
    key: str, path: Path, raw_lines: int, raw_sha256: str, result: IngestResult, asset: dg.AssetKey = EVENTS
) -> dg.AssetCheckResult:
    """Lines counted in the raw file = lines read = events + quarantined lines, and the bytes
    parsed are the bytes counted (same sha256, when the engine hashed what it read).

    On a mismatch the file is hashed again: if it is no longer the file that was counted (it grew,
    shrank or was replaced after the raw count), that is the cause to report, not lost lines.
    """
    accounted = result.events + result.quarantined
    changed = result.sha256 is not None and result.sha256 != raw_sha256
    passed = accounted == raw_lines and result.lines == raw_lines and not changed
    if not passed and not changed:
        try:
            changed = file_facts(path).sha256 != raw_sha256
        except OSError:  # gone or unreadable since: it changed as well
            changed = True
    if passed:
        description = None
    elif changed:
        description = (
            f"file changed since it was counted: {raw_lines} lines counted, {result.lines} read "
            f"(sha256 {raw_sha256[:16]}... counted); land new content under a new name"
        )
    elif accounted < raw_lines:
        description = f"{raw_lines - accounted} lines of {key} are neither events nor quarantined"
    elif accounted > raw_lines:
        description = (
            f"{accounted - raw_lines} more events and quarantined lines than the {raw_lines} lines "
            f"counted in {key}: some lines were counted twice"
        )
    else:
        description = f"the reader read {result.lines} lines of {key}, {raw_lines} were counted"
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=LINES_RECONCILE,
        passed=passed,
        metadata={
            "raw_lines": raw_lines,
            "lines_read": result.lines,
            "events": result.events,
            "quarantined": result.quarantined,
            "unaccounted": max(0, raw_lines - accounted),
            "extra": max(0, accounted - raw_lines),
            "file_changed": changed,
        },
        description=description,
    )
