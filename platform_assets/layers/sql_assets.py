"""The factory behind every SQL-defined asset: one SQL file in, one daily-partitioned asset out.

The file's header gives the description, the inputs (view name -> asset key), the grain and the
column descriptions; ``lookback_days: {view: N}`` widens an input to the N days before the
partition (used by features for history). The asset asks the engine to replace its partition
and reports schema, row count, inputs and the engine that ran it.
"""

import datetime as dt
import hashlib
import warnings

import dagster as dg

from platform_assets.engines.base import LakeDays, View, WarehouseRows
from platform_assets.engines.duckdb import DuckDBEngine
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


def build_sql_asset(definition: SqlDefinition, layer: str, kinds: set[str]) -> dg.AssetsDefinition:
    """A daily-partitioned asset ``[layer, name]`` that materializes ``definition`` into the
    warehouse table of the same name."""

    @dg.asset(
        key=[layer, definition.name],
        description=definition.description,
        partitions_def=event_days,
        deps=_deps(definition),
        group_name=layer,
        kinds=kinds,
        owners=["team:data-platform"],
        code_version=hashlib.sha256(definition.sql.encode()).hexdigest()[:12],
        pool=WAREHOUSE_POOL,
        metadata={"grain": ", ".join(definition.grain), "table": f"warehouse.duckdb: main.{definition.name}"},
    )
    def _sql_asset(context: dg.AssetExecutionContext, engine: DuckDBEngine) -> dg.MaterializeResult:
        day = dt.date.fromisoformat(context.partition_key)
        write = engine.write_partition(definition, _views(definition, day), day)
        return dg.MaterializeResult(
            metadata={
                **table_metadata(write.columns, write.rows, definition.columns),
                "engine": engine.name,
                "input_rows": dg.MetadataValue.json(write.input_rows),
                "replaced_rows": write.replaced_rows,
            }
        )

    return _sql_asset
