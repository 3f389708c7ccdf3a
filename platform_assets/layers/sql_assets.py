"""The factory behind every SQL-defined asset: a folder of SQL files in, one daily-partitioned
multi-asset out (one asset per file).

The file's header gives the description, the inputs (view name -> asset key), the grain and the
column descriptions; ``lookback_days: {view: N}`` widens an input to the N days before the
partition (used by features for history). The asset asks the engine to replace its partition
and reports schema, row count, inputs and the engine that ran it.
"""

import datetime as dt
import hashlib
import warnings

import dagster as dg

from platform_assets.engines.base import LakeDays, PartitionWrite, TableWrite, View, WarehouseRows
from platform_assets.engines.resource import PlatformEngine
from platform_assets.lineage import column_lineage
from platform_assets.metadata import table_metadata
from platform_assets.partitions import event_days
from platform_assets.sql import SqlDefinition

# Assets that write the warehouse file share one pool: DuckDB allows a single writer per file.
WAREHOUSE_POOL = "warehouse"


def _views(definition: SqlDefinition, day: dt.date) -> dict[str, View]:
    lookback = definition.meta.get("lookback_days") or {}
    views: dict[str, View] = {}
    for view_name, key in definition.inputs.items():
        layer, table = key.split("/")
        first = day - dt.timedelta(days=int(lookback.get(view_name, 0)))
        if layer == "lake":
            views[view_name] = LakeDays(table=table, first=first, last=day)
        else:
            views[view_name] = WarehouseRows(table=table, column="event_date", first=first, last=day)
    return views


def _deps(definition: SqlDefinition) -> list[dg.AssetDep]:
    """One dependency per upstream asset, reaching back as far as its widest input view."""
    lookback = definition.meta.get("lookback_days") or {}
    widest: dict[str, int] = {}
    for view_name, key in definition.inputs.items():
        widest[key] = max(widest.get(key, 0), int(lookback.get(view_name, 0)))
    deps = []
    for key, days in widest.items():
        if key.startswith("lake/"):
            # A day of lake events may come from any landed file.
            mapping: dg.PartitionMapping = dg.AllPartitionMapping()
        else:
            with warnings.catch_warnings():  # the flag is beta; days before the first partition are fine
                warnings.simplefilter("ignore", dg.BetaWarning)
                mapping = dg.TimeWindowPartitionMapping(
                    start_offset=-days, allow_nonexistent_upstream_partitions=True
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


def _result(definition: SqlDefinition, key: dg.AssetKey, writes: list[TableWrite]):
    """One materialization of ``key`` covering every day written in this run."""
    rows_by_day = {w.partition.isoformat(): w.rows for w in writes if w.partition}
    metadata: dict[str, object] = {
        "engine": ", ".join(sorted({w.engine for w in writes})),
        "input_bytes": sum(w.input_bytes for w in writes),
        "input_rows_total": sum(sum(w.input_rows.values()) for w in writes),
        "rows_by_day": dg.MetadataValue.json(rows_by_day),
        "replaced_rows": sum(w.replaced_rows for w in writes),
    }
    metadata["dagster/column_lineage"] = column_lineage(definition)
    if len(writes) == 1:  # a single day: the table facts are that partition's
        metadata.update(table_metadata(writes[0].columns, writes[0].rows, definition.columns))
        metadata["input_rows"] = dg.MetadataValue.json(writes[0].input_rows)
        # derived from the content, so a rebuild that changes nothing leaves readers in sync
        return dg.MaterializeResult(
            asset_key=key, metadata=metadata, data_version=dg.DataVersion(writes[0].fingerprint)
        )
    # a range: the same event is recorded for each day, so it carries per-day figures
    metadata["dagster/column_schema"] = table_metadata(writes[-1].columns, 0, definition.columns)[
        "dagster/column_schema"
    ]
    return dg.MaterializeResult(asset_key=key, metadata=metadata)


def build_sql_assets(definitions: list[SqlDefinition], layer: str, kinds: set[str]) -> dg.AssetsDefinition:
    """One daily-partitioned multi-asset ``[layer, name]`` per definition, materializing each into
    the warehouse table of the same name.

    The layer's tables for a day are built in one step over one engine connection (Dagster's
    per-step cost is paid once per layer, not per table); any subset can still be selected.
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
    )
    def _sql_assets(context: dg.AssetExecutionContext, engine: PlatformEngine):
        days = _days(context)
        for key, d in by_key.items():
            if key not in context.selected_asset_keys:
                continue
            writes = list(engine.write_partitions(PartitionWrite(d, _views(d, day), day) for day in days))
            rows = sum(w.rows for w in writes)
            ran = ", ".join(sorted({w.engine for w in writes}))
            context.log.info(f"{d.name}: {rows} rows over {len(days)} day(s) by {ran}")
            yield _result(d, key, writes)

    return _sql_assets
