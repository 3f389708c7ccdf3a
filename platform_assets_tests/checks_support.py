"""Helpers for the asset-check tests: land files, run the platform's jobs, read check results."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from platform_assets.layers.common.checks import CheckRun
from platform_assets.lib.layout import DataLayout

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def jsonl_event(ts: str, status: int = 200, path: str = "/product/1", ip: str = "192.0.2.1", **extra) -> str:
    """One JSON-lines event (a session id, so it is not re-sessionised)."""
    event = {"ts": ts, "ip": ip, "user_id": None, "session_id": f"s-{ip}", "method": "GET", "path": path}
    return json.dumps({**event, "status": status, "bytes": 100, "latency_ms": 5.0, **extra})


def land(layout: DataLayout, key: str, lines: list[str]) -> Path:
    path = layout.landing / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def ingest(defs: dg.Definitions, instance: dg.DagsterInstance, key: str) -> dg.ExecuteInProcessResult:
    """Run ``ingest_log_file`` for a landed file (its dynamic partition is added first)."""
    instance.add_dynamic_partitions("log_files", [key])
    return defs.resolve_job_def("ingest_log_file").execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False
    )


def build_days(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str | None = None
) -> dg.ExecuteInProcessResult:
    """Run ``build_day`` (marts + features and their checks) for one day, or a range in one run."""
    job = defs.resolve_job_def("build_day")
    if last is None or last == first:
        return job.execute_in_process(partition_key=first, instance=instance, raise_on_error=False)
    return job.execute_in_process(
        tags={RANGE_START: first, RANGE_END: last}, instance=instance, raise_on_error=False
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """The run's check evaluations by ``asset:check``."""
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


def failing(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckSeverity]:
    return {name: e.severity for name, e in evaluations(result).items() if not e.passed}


def values(evaluation: dg.AssetCheckEvaluation | dg.AssetCheckResult) -> dict[str, object]:
    """Plain metadata values of a check evaluation or result."""
    return {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def check_run(defs: dg.Definitions, instance: dg.DagsterInstance) -> CheckRun:
    """What the checks step hands each check, to evaluate one check outside a run (checks-only runs
    of partitioned assets are not possible in Dagster 1.13)."""
    resources = defs.resources
    return CheckRun(resources["engine"], resources["quality"], resources["storage"], instance)


def days(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(count)]
