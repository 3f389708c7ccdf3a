"""How every layer declares and runs its asset checks.

- :func:`check` declares one check (asset, name, blocking, description) around a function of a
  :class:`CheckRun` and a partition key; :func:`checks_step` runs a layer's checks in one Dagster
  step (each is still its own check in Dagster), over each day of a backfill range if need be.
- :class:`CheckRun` gives checks the resources and two DuckDB connections shared by the step: an
  in-memory one for lake Parquet, and a read-only one on the warehouse.
- Helpers turn offending rows into metadata: how many, and a small markdown sample.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.metadata import sample_markdown
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.common.thresholds import QualityThresholds
from platform_assets.lib.layout import sql_string


def parquet_source(paths: Sequence[Path], types: Mapping[str, str], filename: bool = False) -> str:
    """A ``read_parquet`` over these files, or an empty relation with columns ``types`` when there
    are none (a day or file with no fragment). Paths are the platform's own, quoted as literals."""
    if not paths:
        columns = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in types.items())
        name = ", CAST(NULL AS VARCHAR) AS filename" if filename else ""
        return f"(SELECT {columns}{name} WHERE false)"
    files = ", ".join(sql_string(str(p)) for p in paths)
    extra = ", filename = true" if filename else ""
    return f"read_parquet([{files}], hive_partitioning = false, union_by_name = true{extra})"


def offenders(rows: pd.DataFrame, total_column: str = "offending") -> tuple[int, dg.MetadataValue]:
    """How many rows offend and a markdown sample, from a query that returns a sample of offending
    rows with their total in ``total_column`` (``count(*) OVER ()`` before its ``LIMIT``)."""
    count = int(rows[total_column].iloc[0]) if len(rows) else 0
    return count, sample_markdown(rows.drop(columns=[total_column]))


def offender_result(
    rows: pd.DataFrame,
    count_name: str,
    failure: str,
    /,
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata: object,
) -> dg.AssetCheckResult:
    """The result of a check whose query returns a sample of offending rows (see ``offenders``):
    it passes when there are none; ``failure`` (a template with ``{count}``) describes a failure,
    and ``metadata`` is recorded beside the count and the sample."""
    count, sample = offenders(rows)
    return dg.AssetCheckResult(
        passed=count == 0,
        severity=severity,
        metadata={count_name: count, **metadata, "sample": sample},
        description=failure.format(count=count) if count else None,
    )


@dataclass
class CheckRun:
    """What a check reads: the run's resources, its Dagster instance, and two DuckDB connections
    opened on first use and shared by the checks of one step (:meth:`close` ends them)."""

    engine: PlatformEngine
    quality: QualityThresholds
    storage: PlatformStorage
    instance: dg.DagsterInstance
    _lake: duckdb.DuckDBPyConnection | None = None
    _warehouse: duckdb.DuckDBPyConnection | None = None

    def lake(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """A query over lake Parquet files, in a private in-memory DuckDB (no warehouse lock)."""
        if self._lake is None:
            self._lake = self.engine.connect()
        return self._lake.execute(sql, list(params or [])).df()

    def warehouse(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """A query against the warehouse, read-only (it may read lake Parquet files too)."""
        if self._warehouse is None:
            self._warehouse = self.engine.connect(str(self.engine.layout.warehouse_db), read_only=True)
        return self._warehouse.execute(sql, list(params or [])).df()

    def close(self) -> None:
        for con in (self._lake, self._warehouse):
            if con is not None:
                con.close()
        self._lake = self._warehouse = None

    def __enter__(self) -> "CheckRun":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# A check's logic: the run, and the partition key it checks ('' for an unpartitioned asset).
Evaluate = Callable[[CheckRun, str], dg.AssetCheckResult]
# A check's logic over several days at once (the days of a backfill range, in order): a result
# per day, for checks whose inputs overlap from day to day (one read of them serves every day).
EvaluateDays = Callable[[CheckRun, Sequence[str]], Mapping[str, dg.AssetCheckResult]]


@dataclass(frozen=True)
class Check:
    """One asset check: its spec (asset, name, blocking, description) and its logic, for one
    partition key, and for several at once when it is declared with :func:`check_days`."""

    spec: dg.AssetCheckSpec
    evaluate: Evaluate
    evaluate_days: EvaluateDays | None = None


def check(asset: dg.AssetKey, name: str, *, blocking: bool, description: str) -> Callable[[Evaluate], Check]:
    """Declare a check on ``asset``; ``blocking=True`` for checks that guard what is downstream
    (they fail with ERROR), ``False`` for advisory ones (they fail with WARN)."""

    def declare(evaluate: Evaluate) -> Check:
        return Check(
            dg.AssetCheckSpec(name, asset=asset, blocking=blocking, description=description), evaluate
        )

    return declare


def check_days(
    asset: dg.AssetKey, name: str, *, blocking: bool, description: str
) -> Callable[[EvaluateDays], Check]:
    """:func:`check` for logic that judges several days in one pass (see :data:`EvaluateDays`):
    a backfill range is judged in one call, a single day as a range of one."""

    def declare(evaluate_days: EvaluateDays) -> Check:
        return Check(
            dg.AssetCheckSpec(name, asset=asset, blocking=blocking, description=description),
            lambda run, key: evaluate_days(run, [key])[key],
            evaluate_days,
        )

    return declare


def checks_step(name: str, checks: Sequence[Check]) -> dg.AssetChecksDefinition:
    """One Dagster step that runs a layer's (selected) checks after their assets.

    Each check stays a check of its own in Dagster (spec, description, blocking, result); running
    them in one step costs Dagster's per-step overhead once per layer instead of once per check.
    Daily checks run for the run's day, or for every day of a backfill range (:func:`over_keys`).
    A check that raises fails with ERROR and the error as its description; the others still run.
    """
    by_key = {c.spec.key: c for c in checks}

    @dg.multi_asset_check(specs=[c.spec for c in checks], name=name, can_subset=True)
    def _checks(
        context: dg.AssetCheckExecutionContext,
        engine: PlatformEngine,
        quality: QualityThresholds,
        storage: PlatformStorage,
    ):
        partitioned = context.has_partition_key or context.has_partition_key_range
        keys = list(context.partition_keys) if partitioned else [""]
        run = CheckRun(engine, quality, storage, context.instance)
        try:
            results = {
                key: _evaluate_keys(declared, run, keys)
                for key, declared in by_key.items()
                if key in context.selected_asset_check_keys
            }
        finally:
            run.close()  # before yielding: the warehouse file is free for the next step's writer
        for key, result in results.items():
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=result.passed,
                severity=result.severity,
                metadata=result.metadata,
                description=result.description,
            )

    return _checks


def _evaluate_keys(declared: Check, run: CheckRun, keys: Sequence[str]) -> dg.AssetCheckResult:
    """The check's result over ``keys``: day by day, or in one pass for a :func:`check_days` check."""
    if declared.evaluate_days is None or len(keys) == 1:
        return over_keys(keys, lambda key: _evaluate(declared.evaluate, run, key))
    try:
        by_day = declared.evaluate_days(run, keys)
    except Exception as error:
        return _could_not_run(error)
    return over_keys(keys, by_day.__getitem__)


def _evaluate(evaluate: Evaluate, run: CheckRun, key: str) -> dg.AssetCheckResult:
    try:
        return evaluate(run, key)
    except Exception as error:
        return _could_not_run(error)


def _could_not_run(error: Exception) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"error": f"{type(error).__name__}: {error}"},
        description=f"the check could not run: {type(error).__name__}: {error}",
    )


def over_keys(keys: Sequence[str], evaluate: Callable[[str], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """One result for a check over one partition key, or over every day of a backfill range run.

    For a range, the result fails when any day fails (ERROR if any failing day is ERROR), carries
    the first failing day's metadata (else the last day's) and lists the failing days.
    """
    if len(keys) == 1:
        return evaluate(keys[0])
    results = {key: evaluate(key) for key in keys}
    failing = {key: r for key, r in results.items() if not r.passed}
    shown = next(iter(failing.values()), results[keys[-1]])
    error = any(r.severity == dg.AssetCheckSeverity.ERROR for r in failing.values())
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if error or not failing else dg.AssetCheckSeverity.WARN,
        metadata={
            **shown.metadata,
            "days_checked": len(keys),
            "failing_days": dg.MetadataValue.json(sorted(failing)),
        },
        description="; ".join(f"{key}: {r.description or 'failed'}" for key, r in list(failing.items())[:3])
        or None,
    )
