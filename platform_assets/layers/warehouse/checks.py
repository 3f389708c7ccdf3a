"""Warehouse checks, per mart and day: header-driven keys and rates, reconciliation with the lake
Parquet of the day (counted in SQL, independently of the mart's query), the funnel's shape, and an
advisory flag on hours dominated by server errors.

Checks name asset keys (``["warehouse", <SQL file name>]``), never the asset functions, so they
hold however the marts are built.
"""

from dataclasses import dataclass

import dagster as dg

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.checks import (
    Check,
    CheckRun,
    check,
    checks_step,
    offender_result,
    offenders,
    parquet_source,
)
from platform_assets.layers.common.metadata import sample_markdown
from platform_assets.layers.common.names import WAREHOUSE_GROUP
from platform_assets.layers.common.sql_checks import identifier, partition_rows, table_checks
from platform_assets.layers.lake.checks import EVENT_TYPES
from platform_assets.sql import load, load_folder

LAYER = WAREHOUSE_GROUP
MARTS = load_folder("marts")


def lake_day(engine: PlatformEngine, day: str) -> str:
    """The lake events of one UTC day: every fragment under ``lake/events/date=<day>/``."""
    return parquet_source(engine.layout.day_fragments(day), EVENT_TYPES)


@dataclass(frozen=True)
class LakeReconciliation:
    """A mart whose ``measure`` sums, per ``mart_key``, to the lake's events per ``lake_key`` (a SQL
    expression over lake columns spelling the same key): every event of the day is counted once."""

    mart: str
    measure: str
    mart_key: str
    lake_key: str


RECONCILED = (
    LakeReconciliation("daily_traffic", "requests", "path", "COALESCE(path, '(none)')"),
    LakeReconciliation("sessions", "events", "session_id", "session_id"),
    LakeReconciliation("user_activity", "events", "visitor_id", "visitor_id"),
)


def reconcile_check(spec: LakeReconciliation) -> Check:
    definition = load(f"marts/{spec.mart}")
    measure, key = identifier(spec.measure), identifier(spec.mart_key)

    @check(
        dg.AssetKey([LAYER, spec.mart]),
        "reconciles_with_lake",
        blocking=True,
        description=f"sum({measure}) of the day = the day's lake events, counted in SQL over the lake "
        f"Parquet, in total and per {key}: no event is lost or counted twice.",
    )
    def reconciles_with_lake(run: CheckRun, day: str) -> dg.AssetCheckResult:
        compared = (
            f"WITH lake AS (SELECT {spec.lake_key} AS key, count(*) AS lake_events "
            f"FROM {lake_day(run.engine, day)} GROUP BY 1), "
            f"mart AS (SELECT {key} AS key, sum({measure}) AS mart_{measure} "
            f"FROM {partition_rows(definition)} GROUP BY 1) "
            f"SELECT COALESCE(lake.key, mart.key) AS {key}, COALESCE(lake_events, 0) AS lake_events, "
            f"COALESCE(mart_{measure}, 0) AS mart_{measure} "
            "FROM lake FULL OUTER JOIN mart ON lake.key IS NOT DISTINCT FROM mart.key"
        )
        totals = run.warehouse(
            f"SELECT COALESCE(sum(lake_events), 0) AS lake, COALESCE(sum(mart_{measure}), 0) AS mart "
            f"FROM ({compared})",
            [day],
        ).iloc[0]
        rows = run.warehouse(
            f"SELECT *, mart_{measure} - lake_events AS difference, count(*) OVER () AS offending "
            f"FROM ({compared}) WHERE lake_events <> mart_{measure} "
            f"ORDER BY abs(mart_{measure} - lake_events) DESC, {key} LIMIT 5",
            [day],
        )
        lake, mart = int(totals["lake"]), int(totals["mart"])
        count, sample = offenders(rows)
        passed = count == 0 and lake == mart
        return dg.AssetCheckResult(
            passed=passed,
            metadata={
                "lake_events": lake,
                f"mart_{measure}": mart,
                "difference": mart - lake,
                f"mismatched_{key}s": count,
                "sample": sample,
            },
            description=None
            if passed
            else f"{spec.mart} {day}: sum({measure}) = {mart} but the lake holds {lake} events "
            f"({mart - lake:+d}); {count} {key} values differ",
        )

    return reconciles_with_lake


@check(
    dg.AssetKey([LAYER, "funnel"]),
    "steps_non_increasing",
    blocking=True,
    description="The day's funnel has its five steps (visit .. purchase) once each, and no step has "
    "more sessions than the step before it.",
)
def steps_non_increasing(run: CheckRun, day: str) -> dg.AssetCheckResult:
    steps = run.warehouse(
        "SELECT step_order, step, sessions, lag(sessions) OVER (ORDER BY step_order) AS previous_sessions "
        f"FROM {partition_rows(load('marts/funnel'))} ORDER BY step_order",
        [day],
    )
    increases = int((steps["sessions"] > steps["previous_sessions"]).sum())
    orders = [int(o) for o in steps["step_order"]]
    passed = increases == 0 and orders in ([], [1, 2, 3, 4, 5])
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "steps": len(steps),
            "increasing_steps": increases,
            "funnel": sample_markdown(steps, limit=10),
        },
        description=None
        if passed
        else f"funnel {day}: {increases} steps exceed the previous one; steps {orders}",
    )


@check(
    dg.AssetKey([LAYER, "daily_traffic"]),
    "hourly_5xx_share",
    blocking=False,
    description="Advisory (WARN): no UTC hour of the day with at least PLATFORM_HOURLY_5XX_MIN_REQUESTS "
    "requests (default 20) has more than PLATFORM_HOURLY_5XX_SHARE (default 50%) of them answered "
    "with a 5xx; flagged hours are listed with their counts.",
)
def hourly_5xx_share(run: CheckRun, day: str) -> dg.AssetCheckResult:
    rows = run.warehouse(
        "WITH hours AS (SELECT CAST(hour(ts) AS INTEGER) AS hour, count(*) AS requests, "
        "count(*) FILTER (WHERE status >= 500) AS server_errors "
        f"FROM {lake_day(run.engine, day)} GROUP BY 1) "
        "SELECT hour, requests, server_errors, server_errors / requests AS share_5xx, "
        "count(*) OVER () AS offending FROM hours WHERE requests >= ? AND server_errors / requests > ? "
        "ORDER BY hour",
        [run.quality.hourly_5xx_min_requests, run.quality.hourly_5xx_share],
    )
    flagged = [
        {"hour": int(r.hour), "requests": int(r.requests), "server_errors": int(r.server_errors),
         "share_5xx": round(float(r.share_5xx), 4)}
        for r in rows.itertuples()
    ]  # fmt: skip
    hours = ", ".join(f"{f['hour']:02d}:00 ({f['server_errors']} of {f['requests']})" for f in flagged)
    return offender_result(
        rows,
        "hours_flagged",
        f"{day}: 5xx share above {run.quality.hourly_5xx_share:.0%} in UTC hour(s) {hours}",
        severity=dg.AssetCheckSeverity.WARN,
        flagged_hours=dg.MetadataValue.json(flagged),
        share_threshold=run.quality.hourly_5xx_share,
        min_requests=run.quality.hourly_5xx_min_requests,
    )


CHECKS = [
    *(c for definition in MARTS for c in table_checks(definition, LAYER)),
    *(reconcile_check(spec) for spec in RECONCILED),
    steps_non_increasing,
    hourly_5xx_share,
]
warehouse_checks = checks_step("warehouse_checks", CHECKS)
