"""The lake-days sensor: rebuild every UTC day that newly ingested files touched.

It reads the ``lake/events`` materializations stored after its cursor (one per ingested file, the
UTC days it touched in their ``days`` metadata) and requests one ``build_day`` run per touched day,
``run_key = "<day>:<storage id of the latest file touching it>"``, so late events rebuild a day.
A day whose tables also read the next day's lake events (``lookahead_days`` of a lake input: the
features see a session crossing midnight whole) is requested again when that next day changes, if
it was built before.
Days outside ``event_days`` or already built are skipped; it waits for a file's ingest run to
finish, and the days of a file that failed a blocking check with ERROR severity are not requested.

Design notes: docs/design/days_and_monitor_sensors.md
"""

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping, Sequence

import dagster as dg

from platform_assets.layers.common.cursors import read_cursor, write_cursor
from platform_assets.layers.common.jobs import build_day_job
from platform_assets.layers.common.names import BUILD_DAY_JOB, LAKE_DAYS_SENSOR
from platform_assets.layers.common.partitions import event_days
from platform_assets.layers.lake.assets import EVENTS
from platform_assets.lib.layout import validate_day
from platform_assets.sql import load_folder

# build_day writes warehouse.duckdb, which takes one writer at a time: the tag lets the instance
# queue these runs one by one (dagster.yaml: concurrency.runs.tag_concurrency_limits, limit 1).
WAREHOUSE_WRITER_TAG = {"platform/writes": "warehouse"}


def build_day_asset_keys(repository: dg.RepositoryDefinition | None) -> tuple[dg.AssetKey, ...]:
    """What the ``build_day`` job materializes in ``repository`` (none without definitions: a
    bare test context, where no day counts as built already)."""
    if repository is None:
        return ()
    return tuple(sorted(build_day_job.selection.resolve(repository.asset_graph)))


def _days_of(record: dg.EventLogRecord) -> list[str] | None:
    """The ``days`` metadata of a ``lake/events`` materialization, or None when it has none."""
    materialization = record.asset_materialization
    entry = materialization.metadata.get("days") if materialization else None
    value = getattr(entry, "value", None)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, list):
        return None
    return [str(day) for day in value]


def built_after(
    instance: dg.DagsterInstance, day: str, storage_id: int, asset_keys: Sequence[dg.AssetKey]
) -> bool:
    """Whether every asset of ``build_day`` was materialized for ``day`` after ``storage_id``."""
    if not asset_keys:
        return False
    for key in asset_keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day], after_storage_id=storage_id), limit=1
        ).records
        if not records:
            return False
    return True


def failed_blocking_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """``asset:check`` of every blocking check that failed with ERROR severity in a run."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    failed = set()
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if (
            evaluation.blocking
            and not evaluation.passed
            and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ):
            failed.add(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return sorted(failed)


def checked_records(
    instance: dg.DagsterInstance, records: Sequence[dg.EventLogRecord], max_wait_seconds: float, now: float
) -> tuple[list[dg.EventLogRecord], dict[int, list[str]]]:
    """The records whose ingest run has finished, up to the first one whose run still goes on
    (younger than ``max_wait_seconds``), and per storage id the blocking checks its run failed."""
    run_ids = sorted({r.run_id for r in records if r.run_id})
    runs = {
        rec.dagster_run.run_id: rec.dagster_run
        for rec in (instance.get_run_records(dg.RunsFilter(run_ids=run_ids)) if run_ids else [])
    }
    ready: list[dg.EventLogRecord] = []
    blocked: dict[int, list[str]] = {}
    for record in records:
        run = runs.get(record.run_id)
        if run is not None and not run.is_finished and now - record.timestamp < max_wait_seconds:
            break
        ready.append(record)
        if run is not None and run.status == dg.DagsterRunStatus.FAILURE:
            failed = failed_blocking_checks(instance, run.run_id)
            if failed:
                blocked[record.storage_id] = failed
    return ready, blocked


def collect_days(
    records: Sequence[dg.EventLogRecord],
    max_days: int,
    log: logging.Logger,
    blocked: Mapping[int, Sequence[str]] | None = None,
    partitions: dg.DailyPartitionsDefinition = event_days,
) -> tuple[dict[str, int], int | None]:
    """Latest storage id per valid touched day (a partition of ``partitions``), and the storage id
    of the last record consumed.

    Stops before a record that would take the tick past ``max_days`` distinct days (never before
    the first one), so no day of a consumed record is left behind. Records in ``blocked`` (storage
    id -> failed blocking checks) are consumed without requesting their days.
    """
    latest: dict[str, int] = {}
    last: int | None = None
    for record in records:
        if blocked and record.storage_id in blocked:
            log.warning(
                f"lake days: {record.partition_key!r} failed blocking checks "
                f"({', '.join(blocked[record.storage_id])}); its days are not built"
            )
            last = record.storage_id
            continue
        days = _days_of(record)
        if days is None:
            log.warning(
                f"lake days: materialization {record.storage_id} of {EVENTS.to_user_string()} "
                f"(partition {record.partition_key!r}) has no 'days' metadata; skipped"
            )
            last = record.storage_id
            continue
        valid = []
        for day in days:
            try:
                validate_day(day)
            except ValueError:
                log.warning(f"lake days: {record.partition_key!r} reports an invalid day {day!r}; skipped")
                continue
            if not partitions.has_partition_key(day):
                first, last_day = partitions.get_first_partition_key(), partitions.get_last_partition_key()
                log.warning(
                    f"lake days: {record.partition_key!r} touched {day}, outside the event_days "
                    f"partitions ({first}..{last_day}); not built"
                )
                continue
            valid.append(day)
        if latest and len(latest.keys() | set(valid)) > max_days:
            break
        for day in valid:
            latest[day] = record.storage_id
        last = record.storage_id
    return latest, last


def lake_lookahead_days() -> int:
    """How many days after its own a day's tables read lake events: the widest ``lookahead_days``
    of a lake input among the marts and features (0 when none looks ahead)."""
    widest = 0
    for definition in (*load_folder("marts"), *load_folder("features")):
        lookahead = definition.meta.get("lookahead_days") or {}
        for view_name, key in definition.inputs.items():
            if key.startswith("lake/"):
                widest = max(widest, int(lookahead.get(view_name, 0)))
    return widest


def reading_days(
    latest: Mapping[str, int], lookahead: int, partitions: dg.DailyPartitionsDefinition = event_days
) -> dict[str, int]:
    """The days not in ``latest`` whose tables read one of its days (up to ``lookahead`` days before
    each), with the latest storage id among the days they read; none before ``partitions`` start."""
    readers: dict[str, int] = {}
    for day, storage_id in latest.items():
        date = dt.date.fromisoformat(day)
        for back in range(1, lookahead + 1):
            reader = (date - dt.timedelta(days=back)).isoformat()
            if reader not in latest and partitions.has_partition_key(reader):
                readers[reader] = max(readers.get(reader, 0), storage_id)
    return readers


def build_lake_days_sensor(
    *,
    name: str = LAKE_DAYS_SENSOR,
    max_records_per_tick: int = 1000,
    max_days_per_tick: int = 100,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    max_wait_for_checks_seconds: float = 3600.0,
    partitions: dg.DailyPartitionsDefinition = event_days,
) -> dg.SensorDefinition:
    """The lake-days sensor with its limits (tests use small ones), requesting the days of
    ``partitions`` (the definitions pass the ones their daily assets use)."""
    if max_records_per_tick < 1 or max_days_per_tick < 1:
        raise ValueError("max_records_per_tick and max_days_per_tick must be positive")
    lookahead = lake_lookahead_days()

    @dg.sensor(
        job_name=BUILD_DAY_JOB,
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Starts one build_day run per UTC day that newly ingested files touched (the 'days' "
            "metadata of lake/events), so late events bring an already-built day up to date. One run "
            "per day per tick; a day already built whose tables read the next day's events is "
            "requested again when that day changes; days outside event_days, and files whose ingest "
            "run failed a blocking check, are logged and skipped."
        ),
    )
    def _lake_days_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            after = read_cursor(context.cursor)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            context.log.warning(f"lake days: unreadable cursor, starting from the beginning ({exc})")
            after = 0
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=EVENTS, after_storage_id=after),
            limit=max_records_per_tick,
            ascending=True,
        )
        ready, blocked = checked_records(
            context.instance, result.records, max_wait_for_checks_seconds, time.time()
        )
        latest, last = collect_days(ready, max_days_per_tick, context.log, blocked, partitions)
        cursor = write_cursor(last if last is not None else after)
        built_keys = build_day_asset_keys(context.repository_def) if latest else ()
        # a day that reads a touched day's events is rebuilt only if it was built before: one
        # never built reads them when its own events bring it
        readers = {
            day: storage_id
            for day, storage_id in reading_days(latest, lookahead, partitions).items()
            if built_after(context.instance, day, 0, built_keys)
        }
        latest = {**latest, **readers}
        requests = []
        for day in sorted(latest):
            if built_after(context.instance, day, latest[day], built_keys):
                context.log.debug(f"lake days: {day} was built after its latest file; not requested")
                continue
            requests.append(
                dg.RunRequest(run_key=f"{day}:{latest[day]}", partition_key=day, tags=WAREHOUSE_WRITER_TAG)
            )
        consumed = sum(r.storage_id <= last for r in result.records) if last is not None else 0
        summary = (
            f"{consumed} new lake/events materializations, {len(requests)} days requested"
            + (f": {', '.join(r.partition_key or '' for r in requests)}" if requests else "")
            + ("; more next tick" if result.has_more or consumed < len(result.records) else "")
        )
        context.log.info(f"lake days: {summary}")
        if not requests:
            return dg.SensorResult(skip_reason=summary, cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _lake_days_sensor


lake_days_sensor = build_lake_days_sensor()
