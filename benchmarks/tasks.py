"""What the worker processes time: one generator per task.

A task sets up (untimed), yields the operation to time, then tears down. The operation returns
what it processed (``events``, ``bytes``) and task-specific extras. Heavy libraries are imported
inside the tasks, so a baseline's process never loads what it does not use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from benchmarks.engines import make_engine

TaskGen = Iterator[Callable[[], dict]]
TASKS: dict[str, Callable[..., TaskGen]] = {}
READ_BLOCK = 8 << 20


def task(fn: Callable[..., TaskGen]) -> Callable[..., TaskGen]:
    TASKS[fn.__name__] = fn
    return fn


# -- helpers ----------------------------------------------------------------------------------


def _land(file: dict, data_dir: str) -> str:
    """Put a cached log file into the data directory's landing folder (hard link); its key."""
    from platform_assets.lib.layout import DataLayout

    landing = DataLayout(Path(data_dir)).ensure().landing
    key = Path(file["path"]).name
    _link(Path(file["path"]), landing / key)
    return key


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def _link_lake(lake_root: str, data_dir: str) -> None:
    """Hard-link a prepared lake (immutable Parquet files) into a fresh data directory, with a copy
    of its catalog (readers list the lake's files through it; the new ingest writes to it)."""
    from platform_assets.lib.lake_catalog import CATALOG_FILE

    src = Path(lake_root) / "lake"
    for path in src.rglob("*.parquet"):
        _link(path, Path(data_dir) / "lake" / path.relative_to(src))
    if (src / CATALOG_FILE).is_file():
        shutil.copy2(src / CATALOG_FILE, Path(data_dir) / "lake" / CATALOG_FILE)


def _definitions(data_dir: str, extra_jobs: tuple = ()):
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.settings import PlatformSettings

    defs = build_definitions(PlatformSettings(data_dir=Path(data_dir)))
    return dg.Definitions.merge(defs, dg.Definitions(jobs=list(extra_jobs))) if extra_jobs else defs


def _run_job(defs, job: str, instance, partition: str, last: str | None = None):
    """Execute one job in-process (over the partitions ``partition``..``last`` when ``last`` is
    another one); raise with the step errors when it fails."""
    import dagster as dg

    from platform_assets.layers.common.names import RANGE_END_TAG, RANGE_START_TAG

    if last and last != partition:
        where = {"tags": {RANGE_START_TAG: partition, RANGE_END_TAG: last}}
    else:
        where = {"partition_key": partition}
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **where)
    if not result.success:
        errors = [
            e.event_specific_data.error.message.strip()
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.event_specific_data.error
        ]
        failed_checks = [
            f"{e.asset_key.to_user_string()}:{e.check_name}"
            for e in result.get_asset_check_evaluations()
            if not e.passed
        ]
        span = partition + (f"..{last}" if last and last != partition else "")
        raise RuntimeError(f"{job} [{span}] failed: {'; '.join(errors + failed_checks) or 'see the run log'}")
    return result


def _lake_days(result) -> list[str]:
    """The UTC days an ingest run's file touched (its ``lake/events`` metadata)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == "lake/events":
            return list(event.materialization.metadata["days"].value)
    return []


def _lake_events(result) -> int:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == "lake/events":
            return int(event.materialization.metadata["dagster/row_count"].value)
    return 0


def _timed_engine_ingest() -> list[float]:
    """Time every ``DuckDBEngine.ingest_log_file`` call made in this process (inside Dagster too)."""
    from platform_assets.engines.duckdb import DuckDBEngine

    spent: list[float] = []
    original = DuckDBEngine.ingest_log_file

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    DuckDBEngine.ingest_log_file = timed
    return spent


def _day_tables(engine, day: str, folders: tuple[str, ...], only: tuple[str, ...] = ()) -> int:
    """Write one day of every table in ``folders`` (or of the ``only`` ones) through the engine,
    as the SQL assets do."""
    import datetime as dt

    from platform_assets.engines.base import PartitionWrite
    from platform_assets.layers.common.sql_assets import _views  # the assets' own view mapping
    from platform_assets.sql import load_folder

    partition = dt.date.fromisoformat(day)
    writes = [
        PartitionWrite(definition, _views(definition, partition), partition)
        for folder in folders
        for definition in load_folder(folder)
        if not only or definition.name in only
    ]
    return sum(write.rows for write in engine.write_partitions(writes))


def _file_sizes(files: list[str]) -> int:
    return sum(os.path.getsize(f) for f in files)


# -- ingest -----------------------------------------------------------------------------------


def _assets_job(name: str, *groups: str, checks: bool):
    """A job over these groups' assets, with their asset checks or without them (but for the
    line-count check, which the lake asset computes itself and cannot be left out)."""
    import dagster as dg

    selection = dg.AssetSelection.groups(*groups)
    if not checks:
        built_in = dg.AssetCheckKey(dg.AssetKey(["lake", "events"]), "lines_reconcile")
        selection = selection.without_checks() | (
            dg.AssetSelection.checks(built_in) if "lake" in groups else dg.AssetSelection.checks()
        )
    return dg.define_asset_job(name, selection=selection)


@task
def platform_ingest(data_dir: str, file: dict, checks: bool = True) -> TaskGen:
    """The raw + lake assets for one file, in-process: the ``ingest_log_file`` job's selection,
    with the lake's asset checks (as the job runs them) or without them."""
    import dagster as dg

    key = _land(file, data_dir)
    defs = _definitions(data_dir, (_assets_job("bench_ingest", "raw", "lake", checks=checks),))
    engine_seconds = _timed_engine_ingest()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("log_files", [key])

        def run() -> dict:
            events = _lake_events(_run_job(defs, "bench_ingest", instance, key))
            return {
                "events": file["lines"],
                "bytes": file["bytes"],
                "rows": events,
                "engine_s": sum(engine_seconds),
            }

        yield run


@task
def engine_ingest(data_dir: str, file: dict) -> TaskGen:
    """``DuckDBEngine.ingest_log_file`` alone, no Dagster."""
    from platform_assets.engines.duckdb import DuckDBEngine
    from platform_assets.lib.layout import file_id

    engine = DuckDBEngine(data_dir=data_dir)
    key = Path(file["path"]).name

    def run() -> dict:
        result = engine.ingest_log_file(file["path"], key, file_id(key))
        return {"events": file["lines"], "bytes": file["bytes"], "rows": result.events}

    yield run


def _bare_select(fmt: str, path: str) -> str:
    """The bare DuckDB reading of a file: read_json, or whole lines + the platform's CLF regex."""
    from platform_assets.lib.layout import sql_string
    from platform_assets.lib.log_formats import CLF_FIELDS, CLF_PATTERN, CLF_TIME_FORMAT_STRPTIME

    if fmt == "jsonl":
        return (
            "SELECT *, CAST(ts AS DATE) AS date FROM "
            f"read_json({sql_string(path)}, format = 'newline_delimited')"
        )
    names = "[" + ", ".join(sql_string(n) for n in CLF_FIELDS) + "]"
    fields = ", ".join(f"f.{n} AS {n}" for n in CLF_FIELDS if n != "time")
    return (
        f"SELECT {fields}, strptime(f.time, {sql_string(CLF_TIME_FORMAT_STRPTIME)}) AS ts, "
        f"CAST(strptime(f.time, {sql_string(CLF_TIME_FORMAT_STRPTIME)}) AS DATE) AS date FROM ("
        f"SELECT regexp_extract(line, {sql_string(CLF_PATTERN)}, {names}) AS f FROM "
        f"read_csv({sql_string(path)}, columns = {{'line': 'VARCHAR'}}, sep = '\\x01', quote = '', "
        "escape = '', header = false, auto_detect = false))"
    )


@task
def duckdb_copy(data_dir: str, file: dict, fmt: str) -> TaskGen:
    """Bare DuckDB: one ``COPY ... TO dir (FORMAT parquet, PARTITION_BY (date))``."""
    import duckdb

    from platform_assets.lib.layout import sql_string

    out = Path(data_dir) / "out"
    Path(data_dir).mkdir(parents=True, exist_ok=True)

    def run() -> dict:
        with closing(duckdb.connect()) as con:
            rows = con.execute(
                f"COPY ({_bare_select(fmt, file['path'])}) TO {sql_string(str(out))} "
                "(FORMAT parquet, PARTITION_BY (date))"
            ).fetchall()[0][0]
        return {"events": file["lines"], "bytes": file["bytes"], "rows": int(rows)}

    yield run


@task
def pandas_ingest(data_dir: str, file: dict, fmt: str, engine: str) -> TaskGen:
    """pandas: read (JSON lines, or whole lines + ``str.extract``), add the date, ``to_parquet``."""
    import numpy as np
    import pandas as pd

    from platform_assets.lib.log_formats import CLF_FIELDS, CLF_PATTERN, CLF_TIME_FORMAT_STRPTIME

    out = Path(data_dir) / "out"
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    reader = {} if engine == "default" else {"engine": engine}

    def read() -> tuple[pd.DataFrame, pd.Series]:
        if fmt == "jsonl":
            frame = pd.read_json(file["path"], lines=True, **reader)
            return frame, pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
        # \x01 and \x02 never occur: each whole line is one unquoted field (both engines)
        lines = pd.read_csv(
            file["path"], sep="\x01", quotechar="\x02", header=None, names=["line"], dtype=str, **reader
        )
        frame = lines["line"].str.extract(CLF_PATTERN)
        frame.columns = list(CLF_FIELDS)
        return frame, pd.to_datetime(frame["time"], utc=True, format=CLF_TIME_FORMAT_STRPTIME)

    def run() -> dict:
        frame, ts = read()
        days = ts.dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        unique, codes = np.unique(days, return_inverse=True)
        frame["date"] = pd.Categorical.from_codes(codes, [str(d) for d in unique])
        frame.to_parquet(out, partition_cols=["date"])
        return {"events": file["lines"], "bytes": file["bytes"], "rows": len(frame)}

    yield run


# -- marts and engines ------------------------------------------------------------------------


def _lake_input(lake: dict, day: str) -> dict:
    return {"events": lake["rows_by_day"][day], "bytes": lake["bytes_by_day"][day]}


@task
def marts_assets(data_dir: str, lake: dict, day: str, checks: bool = False) -> TaskGen:
    """The mart assets (``build_day`` minus features) for one day, in-process on a fresh warehouse,
    with or without their asset checks."""
    import dagster as dg

    _link_lake(lake["root"], data_dir)
    defs = _definitions(data_dir, (_assets_job("bench_marts", "warehouse", checks=checks),))
    with dg.instance_for_test() as instance:

        def run() -> dict:
            _run_job(defs, "bench_marts", instance, day)
            return _lake_input(lake, day)

        yield run


@task
def marts_sql(data_dir: str, lake: dict, day: str, only: tuple[str, ...] = ()) -> TaskGen:
    """The marts' SQL (or the ``only`` ones) run directly in DuckDB over the day's lake files,
    into a database file."""
    import duckdb

    from platform_assets.engines.dialect import duckdb_prelude
    from platform_assets.lib.layout import sql_string
    from platform_assets.sql import load_folder

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    files = "[" + ", ".join(sql_string(f) for f in lake["files_by_day"][day]) + "]"
    definitions = [d for d in load_folder("marts") if not only or d.name in only]

    def run() -> dict:
        with closing(duckdb.connect(str(Path(data_dir) / "bare.duckdb"))) as con:
            con.execute("SET TimeZone = 'UTC'")
            for statement in duckdb_prelude():
                con.execute(statement)
            con.execute(
                f"CREATE VIEW events AS SELECT * FROM read_parquet({files}, hive_partitioning = false)"
            )
            for definition in definitions:
                con.execute(f"CREATE TABLE {definition.name} AS {definition.sql}")
        return _lake_input(lake, day)

    yield run


@task
def engine_marts(data_dir: str, lake: dict, day: str, engine: str, only: tuple[str, ...] = ()) -> TaskGen:
    """One registered engine's ``write_partitions`` for every mart of the day (or the ``only``
    ones), no Dagster. Spark's session is started before the timed part (``startup_s``) and
    stopped after it; its JVM's peak RSS is reported as ``jvm_rss_mb`` (another process)."""
    _link_lake(lake["root"], data_dir)
    instance = make_engine(engine, data_dir)
    spark = instance.spark if instance.kind == "spark" else None
    startup = None
    if spark is not None:
        started = time.perf_counter()
        spark.session()
        startup = time.perf_counter() - started

    def run() -> dict:
        rows = _day_tables(instance, day, ("marts",), tuple(only))
        extra = {"startup_s": startup, "jvm_rss_mb": _jvm_peak_rss_mb()} if spark is not None else {}
        return {**_lake_input(lake, day), "table_rows": rows, **extra}

    try:
        yield run
    finally:
        if spark is not None:
            spark.stop()


def _jvm_peak_rss_mb() -> float | None:
    """Peak RSS of this process's Spark JVM (``VmHWM``): the kernel's ``ru_maxrss`` of the worker
    does not include it (the JVM is a child the worker never waits for)."""
    from pyspark import SparkContext

    gateway = getattr(SparkContext, "_gateway", None)
    process = getattr(gateway, "proc", None)
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
    except (AttributeError, OSError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


@task
def pandas_daily_traffic(data_dir: str, lake: dict, day: str) -> TaskGen:
    """The daily_traffic mart in pandas: read the day's Parquet files (pyarrow), group by day,
    path, country and device, write the result into a DuckDB file like the other rows."""
    import duckdb
    import pandas as pd

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    files = lake["files_by_day"][day]
    columns = ["event_date", "path", "country", "device", "visitor_id", "status", "bytes", "latency_ms"]

    def run() -> dict:
        events = pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)
        events = events.fillna({"path": "(none)", "country": "unknown", "device": "unknown"})
        events["error"] = events["status"] >= 400
        events["server_error"] = events["status"] >= 500
        groups = events.groupby(["event_date", "path", "country", "device"], sort=False, observed=True)
        traffic = groups.agg(
            requests=("status", "size"),
            distinct_visitors=("visitor_id", "nunique"),
            errors=("error", "sum"),
            server_errors=("server_error", "sum"),
            bytes=("bytes", "sum"),
        )
        traffic["error_rate"] = traffic["errors"] / traffic["requests"]
        traffic["p50_latency_ms"] = groups["latency_ms"].quantile(0.5)
        traffic["p95_latency_ms"] = groups["latency_ms"].quantile(0.95)
        traffic = traffic.reset_index()
        with closing(duckdb.connect(str(Path(data_dir) / "pandas.duckdb"))) as con:
            con.register("traffic", traffic)
            con.execute("CREATE TABLE daily_traffic AS SELECT * FROM traffic")
        return {**_lake_input(lake, day), "table_rows": len(traffic)}

    yield run


# -- orchestration ----------------------------------------------------------------------------


def _ingest_then_build(data_dir: str, file: dict, day: str) -> TaskGen:
    """Land the file; the timed operation runs the ingest_log_file and build_day jobs in-process.

    build_day runs over every day the file touched (``day`` and, say, the day before, when late
    events of it are in the file), as the lake-days sensor asks: a day's features read the earlier
    days' sessions, and their leakage check fails on a day whose sessions were not rebuilt."""
    import dagster as dg

    key = _land(file, data_dir)
    defs = _definitions(data_dir)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("log_files", [key])

        def run() -> dict:
            days = _lake_days(_run_job(defs, "ingest_log_file", instance, key)) or [day]
            _run_job(defs, "build_day", instance, min(days), max(days))
            return {"events": file["lines"], "bytes": file["bytes"], "days_built": len(days)}

        yield run


@task
def graph_inprocess(data_dir: str, file: dict, day: str) -> TaskGen:
    """Raw, lake, marts and features for one file and day: two jobs run in-process."""
    yield from _ingest_then_build(data_dir, file, day)


_ADD_PARTITION = (
    "import dagster as dg, sys; dg.DagsterInstance.get().add_dynamic_partitions('log_files', sys.argv[1:])"
)


def _instance_yaml() -> str:
    """The platform's instance settings when it ships them, else telemetry off and one warehouse
    writer at a time (without a pool limit, parallel mart steps fail on DuckDB's file lock)."""
    from importlib import resources

    shipped = resources.files("platform_assets").joinpath("deploy", "instance.yaml")
    if shipped.is_file():
        return shipped.read_text("utf-8")
    return "telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n"


@task
def graph_cli(data_dir: str, file: dict, day: str) -> TaskGen:
    """The same graph through ``dagster asset materialize`` (one call per partitioning)."""
    key = _land(file, data_dir)
    home = Path(data_dir) / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(_instance_yaml())
    executor = _definitions(data_dir).resolve_job_def("ingest_log_file").executor_def.name
    env = {**os.environ, "PLATFORM_DATA_DIR": data_dir, "DAGSTER_HOME": str(home)}
    subprocess.run([sys.executable, "-c", _ADD_PARTITION, key], env=env, check=True)
    dagster = str(Path(sys.executable).parent / "dagster")
    calls = [
        ("group:raw or group:lake", key),
        ("group:warehouse or group:features", day),
    ]

    def run() -> dict:
        for selection, partition in calls:
            done = subprocess.run(
                [
                    dagster,
                    "asset",
                    "materialize",
                    "-m",
                    "platform_assets",
                    "--select",
                    selection,
                    "--partition",
                    partition,
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode:
                raise RuntimeError(f"dagster asset materialize {selection!r} failed:\n{done.stderr[-3000:]}")
        return {"events": file["lines"], "bytes": file["bytes"], "executor": executor}

    yield run


@task
def graph_parts(data_dir: str, file: dict, day: str) -> TaskGen:
    """The graph's work without Dagster: file facts, the engine's ingest, each table's write."""
    from platform_assets.engines.duckdb import DuckDBEngine
    from platform_assets.lib.layout import file_id
    from platform_assets.lib.line_reader import file_facts

    engine = DuckDBEngine(data_dir=data_dir)
    key = Path(file["path"]).name

    def run() -> dict:
        file_facts(Path(file["path"]))
        engine.ingest_log_file(file["path"], key, file_id(key))
        _day_tables(engine, day, ("marts", "features"))
        return {"events": file["lines"], "bytes": file["bytes"]}

    yield run


# -- incremental ------------------------------------------------------------------------------


@task
def incremental(data_dir: str, file: dict, day: str, history: dict | None) -> TaskGen:
    """A new file ingested and its day built through the jobs, onto a prepared history or nothing."""

    if history:
        _link_lake(history["root"], data_dir)
        warehouse = Path(data_dir) / "warehouse"
        warehouse.mkdir(parents=True, exist_ok=True)
        shutil.copy2(history["warehouse"], warehouse / "warehouse.duckdb")  # written in place
    yield from _ingest_then_build(data_dir, file, day)


# -- limits -----------------------------------------------------------------------------------


def _read(path: str) -> int:
    total, block = 0, bytearray(READ_BLOCK)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(block):
            total += n
    return total


@task
def read_file(data_dir: str, file: dict, warm: bool) -> TaskGen:
    """Sequential read of the landed file in 8 MiB blocks (page cache not dropped)."""
    if warm:
        _read(file["path"])

    def run() -> dict:
        return {"events": file["lines"], "bytes": _read(file["path"])}

    yield run


@task
def parquet_scan(data_dir: str, lake: dict, day: str) -> TaskGen:
    """DuckDB scanning the day's lake files: ``count(*), sum(bytes)``."""
    import duckdb

    from platform_assets.lib.layout import sql_string

    files = "[" + ", ".join(sql_string(f) for f in lake["files_by_day"][day]) + "]"

    def run() -> dict:
        with closing(duckdb.connect()) as con:
            rows = con.execute(f"SELECT count(*), sum(bytes) FROM read_parquet({files})").fetchall()[0][0]
        return {**_lake_input(lake, day), "rows": int(rows)}

    yield run


# -- preparation (untimed inputs shared by several measurements) --------------------------------


@task
def prep_lake(data_dir: str, file: dict) -> TaskGen:
    """Ingest one file with the engine; describe the lake it leaves (files, rows, bytes per day)."""
    from platform_assets.engines.duckdb import DuckDBEngine
    from platform_assets.lib.layout import file_id

    engine = DuckDBEngine(data_dir=data_dir)

    def run() -> dict:
        key = Path(file["path"]).name
        result = engine.ingest_log_file(file["path"], key, file_id(key))
        files = {day: [str(p) for p in engine.layout.day_fragments(day)] for day in result.events_by_day}
        return {
            "root": data_dir,
            "rows_by_day": result.events_by_day,
            "files_by_day": files,
            "bytes_by_day": {day: _file_sizes(paths) for day, paths in files.items()},
        }

    yield run


@task
def prep_history(data_dir: str, files: list[dict], days: list[str]) -> TaskGen:
    """A lake and warehouse holding ``files`` ingested and ``days`` built (marts and features)."""
    from platform_assets.engines.duckdb import DuckDBEngine
    from platform_assets.lib.layout import file_id

    engine = DuckDBEngine(data_dir=data_dir)

    def run() -> dict:
        for file in files:
            key = Path(file["path"]).name
            engine.ingest_log_file(file["path"], key, file_id(key))
        for day in days:
            _day_tables(engine, day, ("marts", "features"))
        return {
            "root": data_dir,
            "warehouse": str(engine.layout.warehouse_db),
            "events": sum(f["lines"] for f in files),
        }

    yield run
