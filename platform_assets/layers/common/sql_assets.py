"""The factory behind every SQL-defined asset: a folder of SQL files in, one daily-partitioned
multi-asset out (one asset per file).

The file's header gives the description, the inputs (view name -> asset key), the grain and the
column descriptions; ``lookback_days: {view: N}`` widens an input to the N days before the
partition (used by features for history) and ``lookahead_days: {view: N}`` to the N days after
it (used by features to see a session that crosses midnight whole). The asset asks the engine to
replace its partition and reports, for each day, schema, row count, inputs and a preview of its
rows, with the engine that ran it and its column lineage (also as a table the UI shows).
"""

import datetime as dt
import hashlib
import warnings
from contextlib import closing

import dagster as dg
import duckdb

from platform_assets.engines.base import LakeDays, PartitionWrite, TableWrite, View, WarehouseRows
from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.metadata import (
    PREVIEW_ROWS,
    lineage_markdown,
    sample_markdown,
    table_metadata,
)
from platform_assets.layers.common.names import ENGINE_TAG
from platform_assets.layers.common.partitions import event_days
from platform_assets.sql import SqlDefinition
from platform_assets.sql.lineage import column_lineage

# Assets that write the warehouse file share one pool: DuckDB allows a single writer per file.
WAREHOUSE_POOL = "warehouse"
# Warehouse writers can fail for reasons that pass: DuckDB's file lock still held after the
# engine's own wait (lock_timeout_seconds), a Spark session that fails to start, a disk briefly
# full. Their writes are all-or-nothing, so a retry is safe; errors of the data or the SQL are
# raised with retries refused (``_write``). The lake ingest carries no policy: its blocking check
# fails the step when lines do not reconcile, which a retry cannot change.
TRANSIENT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _offsets(definition: SqlDefinition, view_name: str) -> tuple[int, int]:
    """How many days before and after the partition the view reads (its header's lookback and
    lookahead, 0 by default)."""
    lookback = definition.meta.get("lookback_days") or {}
    lookahead = definition.meta.get("lookahead_days") or {}
    return int(lookback.get(view_name, 0)), int(lookahead.get(view_name, 0))


def _views(definition: SqlDefinition, day: dt.date) -> dict[str, View]:
    views: dict[str, View] = {}
    for view_name, key in definition.inputs.items():
        layer, table = key.split("/")
        before, after = _offsets(definition, view_name)
        first, last = day - dt.timedelta(days=before), day + dt.timedelta(days=after)
        if layer == "lake":
            views[view_name] = LakeDays(table=table, first=first, last=last)
        else:
            views[view_name] = WarehouseRows(table=table, column="event_date", first=first, last=last)
    return views


def _deps(definition: SqlDefinition) -> list[dg.AssetDep]:
    """One dependency per upstream asset, reaching as far back and ahead as its widest input view."""
    widest: dict[str, tuple[int, int]] = {}
    for view_name, key in definition.inputs.items():
        before, after = _offsets(definition, view_name)
        known = widest.get(key, (0, 0))
        widest[key] = (max(known[0], before), max(known[1], after))
    deps = []
    for key, (before, after) in widest.items():
        if key.startswith("lake/"):
            # A day of lake events may come from any landed file (lake/events is partitioned by
            # file, not by day): the days read, lookahead included, are the view's.
            mapping: dg.PartitionMapping = dg.AllPartitionMapping()
        else:
            with warnings.catch_warnings():  # the flag is beta; days before the first partition are fine
                warnings.simplefilter("ignore", dg.BetaWarning)
                mapping = dg.TimeWindowPartitionMapping(
                    start_offset=-before, end_offset=after, allow_nonexistent_upstream_partitions=True
                )
        deps.append(dg.AssetDep(dg.AssetKey(key.split("/")), partition_mapping=mapping))
    return deps


def _spec(definition: SqlDefinition, layer: str, kinds: set[str]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=[layer, definition.name],
        description=definition.description,
        deps=_deps(definition),
        group_name=layer,
        kinds=kinds,
        owners=["team:data-platform"],
        code_version=hashlib.sha256(definition.sql.encode()).hexdigest()[:12],
        metadata={"grain": ", ".join(definition.grain), "table": f"warehouse.duckdb: main.{definition.name}"},
    )


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The run's days: one for a partition, every day of the range for a backfill run."""
    return [dt.date.fromisoformat(key) for key in context.partition_keys]


def _day_metadata(write: TableWrite, definition: SqlDefinition) -> dict[str, object]:
    """What one day's write did: the figures a day's event carries, whether the run built one day
    or a range (each day of a range records its own, so the Plots tab shows the real series)."""
    return {
        **table_metadata(write.columns, write.rows, definition.columns),
        "input_bytes": write.input_bytes,
        "input_rows_total": sum(write.input_rows.values()),
        "input_rows": dg.MetadataValue.json(write.input_rows),
        "replaced_rows": write.replaced_rows,
    }


def _result(
    definition: SqlDefinition,
    key: dg.AssetKey,
    writes: list[tuple[dt.date, TableWrite]],
    previews: dict[dt.date, dg.MetadataValue],
    context: dg.AssetExecutionContext,
) -> dg.MaterializeResult:
    """One materialization of ``key`` per day written in this run.

    A single day's figures go in the result; a range's go to each day's own event through
    partition-scoped metadata, and the result carries what the days share (engine, lineage)."""
    engine = ", ".join(sorted({w.engine for _, w in writes}))
    lineage = column_lineage(definition)
    shared: dict[str, object] = {
        "engine": engine,
        "dagster/column_lineage": lineage,
        "column_lineage_table": lineage_markdown(lineage, [c.name for c in writes[-1][1].columns]),
    }
    days: dict[dt.date, dict[str, object]] = {}
    for day, write in writes:
        days[day] = _day_metadata(write, definition)
        if day in previews:
            days[day]["preview"] = previews[day]
    tags = {ENGINE_TAG: engine}
    if len(writes) == 1:
        ((day, write),) = writes
        # derived from the content, so a rebuild that changes nothing leaves readers in sync
        return dg.MaterializeResult(
            asset_key=key,
            metadata={**shared, **days[day]},
            data_version=dg.DataVersion(write.fingerprint),
            tags=tags,
        )
    for day, metadata in days.items():
        context.add_asset_metadata(metadata, asset_key=key, partition_key=day.isoformat())
    return dg.MaterializeResult(asset_key=key, metadata=shared, tags=tags)


def _previews(
    engine: PlatformEngine, written: list[tuple[SqlDefinition, dt.date]]
) -> dict[tuple[str, dt.date], dg.MetadataValue]:
    """The first rows of each (table, day) written, read back with a LIMIT over one read-only
    connection (the table is never loaded). A preview that cannot be read is left out."""
    previews: dict[tuple[str, dt.date], dg.MetadataValue] = {}
    written = [(d, day) for d, day in written if d.partition_column]
    if not written:
        return previews
    try:
        with closing(engine.connect(str(engine.layout.warehouse_db), read_only=True)) as con:
            for definition, day in written:
                rows = con.execute(
                    f'SELECT * FROM main."{definition.name}" WHERE "{definition.partition_column}" = ? '
                    f"LIMIT {PREVIEW_ROWS}",
                    [day],
                ).df()
                previews[definition.name, day] = sample_markdown(rows, limit=PREVIEW_ROWS)
    except duckdb.Error:  # a preview is a courtesy: it never fails the write it shows
        pass
    return previews


def _transient(error: BaseException) -> bool:
    """Whether a failed write may succeed when run again: file locks, I/O and disk space, a Spark
    session or gateway that failed to start. The rest (SQL, data, schema) fails the same way again."""
    if isinstance(error, (duckdb.IOException, OSError)):
        return True
    module = type(error).__module__ or ""
    return module.startswith("py4j") or "JAVA_GATEWAY" in str(error)


def _write(engine: PlatformEngine, planned: list[PartitionWrite]) -> list[TableWrite]:
    """The engine's writes; an error that would recur is raised with retries refused, so the
    platform's retry policy (``TRANSIENT_RETRY_POLICY``) only retries what may pass."""
    try:
        return list(engine.write_partitions(planned))
    except Exception as error:
        if _transient(error):
            raise
        raise dg.Failure(description=f"{type(error).__name__}: {error}", allow_retries=False) from error


def build_sql_assets(
    definitions: list[SqlDefinition],
    layer: str,
    kinds: set[str],
    retry_policy: dg.RetryPolicy = TRANSIENT_RETRY_POLICY,
) -> dg.AssetsDefinition:
    """One daily-partitioned multi-asset ``[layer, name]`` per definition, materializing each into
    the warehouse table of the same name.

    The layer's tables for a day are built in one step over one engine connection (Dagster's
    per-step cost is paid once per layer, not per table) and committed in one warehouse
    transaction (readers see the whole layer as it was or as the step left it); any subset can
    still be selected.
    A backfill over a date range runs as one step that replaces the days in order
    (``BackfillPolicy.single_run``), so history-reading tables see the days before them.
    """
    by_key = {dg.AssetKey([layer, d.name]): d for d in definitions}

    @dg.multi_asset(
        name=f"{layer}_tables",
        specs=[_spec(d, layer, kinds) for d in definitions],
        partitions_def=event_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        pool=WAREHOUSE_POOL,
        retry_policy=retry_policy,
    )
    def _sql_assets(context: dg.AssetExecutionContext, engine: PlatformEngine):
        days = _days(context)
        selected = [(key, d) for key, d in by_key.items() if key in context.selected_asset_keys]
        # Every table and day of the step in one call: the engine commits them in one transaction,
        # so a failure or a kill leaves the layer as it was, never some tables new and others old.
        planned = [PartitionWrite(d, _views(d, day), day) for _, d in selected for day in days]
        written = _write(engine, planned)
        previews = _previews(engine, [(p.definition, p.partition) for p in planned])
        for key, d in selected:
            writes = [(p.partition, w) for p, w in zip(planned, written, strict=True) if p.definition is d]
            rows = sum(w.rows for _, w in writes)
            ran = ", ".join(sorted({w.engine for _, w in writes}))
            context.log.info(f"{d.name}: {rows} rows over {len(days)} day(s) by {ran}")
            mine = {day: md for (name, day), md in previews.items() if name == d.name}
            yield _result(d, key, writes, mine, context)

    return _sql_assets
