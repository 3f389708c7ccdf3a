"""``features/visitor_history``: each day, the online feature store's rows for serving.

What serving needs to compute ``session_features``' history part for a new session of any visitor:
their whole non-bot sessions begun in the history window (first day, end, conversion, page
views), cut from the batch feature SQL itself (``serving/feature_sql.store_query``) and run over
the same views the batch reads for that day. The rows are published as the day's immutable file
of the online store, and the store's pointer moves to the newest day (``serving/online_store``).
Computed by DuckDB over the warehouse (the embedded default; the warehouse is DuckDB whichever
engine built it).
"""

import datetime as dt
import hashlib
import warnings

import dagster as dg
import pyarrow as pa

from platform_assets.engines.base import LakeDays, WarehouseRows
from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.names import FEATURES_GROUP
from platform_assets.layers.common.partitions import event_days
from platform_assets.layers.common.sql_assets import TRANSIENT_RETRY_POLICY, WAREHOUSE_POOL
from platform_assets.serving.feature_sql import definition, store_query
from platform_assets.serving.online_store import Published, publish_day, store_root

VISITOR_HISTORY = dg.AssetKey([FEATURES_GROUP, "visitor_history"])
HISTORY_VIEW, LATER_VIEW = "history_sessions", "later_events"


def _reach() -> tuple[int, int]:
    """Days the batch's history view reaches back and its later-events view ahead (its header)."""
    meta, inputs = definition().meta, definition().inputs
    if inputs.get(HISTORY_VIEW) != "warehouse/sessions" or inputs.get(LATER_VIEW) != "lake/events":
        raise ValueError(f"session_features' inputs changed: {inputs}; visitor_history must follow them")
    return int(meta["lookback_days"][HISTORY_VIEW]), int(meta["lookahead_days"][LATER_VIEW])


def history_days() -> int:
    """Days before the day whose sessions the store holds (the batch's history view)."""
    return _reach()[0]


def history_rows(engine: PlatformEngine, day: dt.date) -> pa.Table:
    """The store's rows for ``day``: the batch's whole sessions over the batch's views of that day
    (DuckDB reads the warehouse and the lake files in place)."""
    before, after = _reach()
    views = {
        HISTORY_VIEW: WarehouseRows("sessions", "event_date", day - dt.timedelta(days=before), day),
        LATER_VIEW: LakeDays("events", day, day + dt.timedelta(days=after)),
    }
    return engine.duckdb.query_views(views, store_query())


def _deps() -> list[dg.AssetDep]:
    before, _ = _reach()
    with warnings.catch_warnings():  # the flag is beta; days before the first partition are fine
        warnings.simplefilter("ignore", dg.BetaWarning)
        sessions = dg.TimeWindowPartitionMapping(
            start_offset=-before, end_offset=0, allow_nonexistent_upstream_partitions=True
        )
    return [
        dg.AssetDep(dg.AssetKey(["lake", "events"]), partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(dg.AssetKey(["warehouse", "sessions"]), partition_mapping=sessions),
    ]


def _publish_days(context: dg.AssetExecutionContext, engine: PlatformEngine) -> dg.MaterializeResult:
    """Every visitor's whole non-bot sessions of the history window, as of the day's end, published
    to the online feature store the prediction service reads (the newest day becomes current).
    A range run publishes its newest day only: the service reads the newest day, so the older
    days' files would be superseded as soon as written (each records which day superseded it)."""
    root = store_root(engine.layout.root)
    keys = sorted(context.partition_keys)
    newest = keys[-1]
    for key in keys[:-1]:
        context.add_asset_metadata({"engine": "duckdb", "superseded_by": newest}, partition_key=key)
    rows = history_rows(engine, dt.date.fromisoformat(newest))
    done = publish_day(root, newest, rows)
    context.log.info(f"visitor_history {newest}: {done.rows} sessions, current={done.current}")
    if len(keys) > 1:
        context.add_asset_metadata(_metadata(done, rows), partition_key=newest)
        context.log.info(f"visitor_history {keys[0]}..{keys[-2]}: superseded by {newest}, not published")
        return dg.MaterializeResult()
    return dg.MaterializeResult(metadata=_metadata(done, rows), data_version=dg.DataVersion(done.sha256[:16]))


with warnings.catch_warnings():  # `asset`'s backfill_policy is beta (multi_asset's is not)
    warnings.simplefilter("ignore", dg.BetaWarning)
    visitor_history = dg.asset(
        key=VISITOR_HISTORY,
        partitions_def=event_days,
        deps=_deps(),
        group_name=FEATURES_GROUP,
        kinds={"duckdb", "parquet"},
        owners=["team:ml"],
        code_version=hashlib.sha256(store_query().encode()).hexdigest()[:12],
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY_POLICY,
        metadata={"store": "online/visitor_history/ (a Parquet file per day, CURRENT.json the newest)"},
    )(_publish_days)


def _metadata(done: Published, rows: pa.Table) -> dict[str, object]:
    return {
        "engine": "duckdb",  # whichever engine built the marts: the warehouse is DuckDB
        "dagster/row_count": rows.num_rows,
        "visitors": len(set(rows.column("visitor_id").to_pylist())),
        "file": done.path.name,
        "sha256": done.sha256,
        "current": done.current,
    }
