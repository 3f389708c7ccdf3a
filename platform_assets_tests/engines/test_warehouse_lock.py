"""Writing the warehouse: a second process waits for DuckDB's lock instead of failing; a step's
tables commit together (a failure or a kill leaves all of them as before); a failed commit reports
its own cause."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from platform_assets.engines.base import LakeDays
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.sql import SqlDefinition

HOLD_SECONDS = 2.0
DAY = dt.date(2026, 11, 20)
DEFINITION = SqlDefinition(
    name="tiny_mart",
    sql="SELECT CAST('2026-11-20' AS DATE) AS event_date, count(*) AS events FROM events",
    description="test mart",
    inputs={"events": "lake/events"},
    partition_column="event_date",
)


def _hold_lock(path, seconds: float, until: Path | None = None) -> subprocess.Popen:
    """Another process holding the warehouse for ``seconds`` (or until the file ``until`` exists)."""
    code = (
        "import duckdb, os, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "con.execute('CREATE TABLE IF NOT EXISTS held (x INT)')\n"
        "print('locked', flush=True)\n"
        f"end = time.monotonic() + {seconds}\n"
        f"while time.monotonic() < end and not os.path.exists({str(until)!r}):\n"
        "    time.sleep(0.05)\n"
        "con.close()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_write_waits_for_another_process_holding_the_warehouse(engine, layout):
    holder = _hold_lock(layout.warehouse_db, HOLD_SECONDS)
    started = time.monotonic()
    write = engine.write_partition(DEFINITION, {"events": LakeDays("events", DAY, DAY)}, DAY)
    waited = time.monotonic() - started
    holder.wait(timeout=30)
    assert write.rows == 1
    assert waited >= HOLD_SECONDS * 0.5  # it really waited for the other process


def test_the_lock_error_surfaces_after_the_timeout(layout):
    impatient = DuckDBEngine(data_dir=str(layout.root), lock_timeout_seconds=0.3)
    holder = _hold_lock(layout.warehouse_db, HOLD_SECONDS)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):
            impatient.write_partition(DEFINITION, {"events": LakeDays("events", DAY, DAY)}, DAY)
    finally:
        holder.wait(timeout=30)


# -- one step, one transaction ----------------------------------------------------------------

FIRST, SECOND = "first_mart", "second_mart"


def _constant(name: str, value_sql: str) -> SqlDefinition:
    """A one-row table for DAY whose ``version`` column is ``value_sql`` (no inputs)."""
    return SqlDefinition(
        name=name,
        sql=f"SELECT DATE '{DAY.isoformat()}' AS event_date, {value_sql} AS version",
        description=f"test table {name}",
        partition_column="event_date",
    )


def _versions(layout, tables: tuple[str, ...] = (FIRST, SECOND)) -> dict[str, list[int]]:
    """Each table's ``version`` values, read by a fresh process-wide connection (as a reader would)."""
    with duckdb.connect(str(layout.warehouse_db)) as con:
        return {
            table: [row[0] for row in con.execute(f"SELECT version FROM {table} ORDER BY 1").fetchall()]
            for table in tables
        }


def _build(layout, definitions: list[SqlDefinition], monkeypatch) -> bool:
    """Materialize a two-table layer for DAY through Dagster, as build_day does; True on success."""
    import dagster as dg

    from platform_assets.layers.common import sql_assets
    from platform_assets.layers.common.sql_assets import build_sql_assets
    from platform_assets.resources import build_engine
    from platform_assets.settings import PlatformSettings

    # test tables have no traced column lineage (sql/column_lineage.json covers the real ones)
    monkeypatch.setattr(sql_assets, "column_lineage", lambda definition: dg.TableColumnLineage({}))
    assets = build_sql_assets(definitions, "test", {"duckdb"})
    result = dg.materialize(
        [assets],
        partition_key=DAY.isoformat(),
        resources={"engine": build_engine(PlatformSettings(data_dir=layout.root))},
        raise_on_error=False,
    )
    return result.success


def _retried_build(layout, definition: SqlDefinition, monkeypatch, lock_timeout: float):
    """Materialize one table under a retry policy (3 retries, 1 s apart); the number of retries."""
    import dagster as dg

    from platform_assets.engines.resource import PlatformEngine
    from platform_assets.layers.common import sql_assets
    from platform_assets.resources import build_engine
    from platform_assets.settings import PlatformSettings

    monkeypatch.setattr(sql_assets, "column_lineage", lambda definition: dg.TableColumnLineage({}))
    assets = sql_assets.build_sql_assets(
        [definition], "test", {"duckdb"}, retry_policy=dg.RetryPolicy(max_retries=3, delay=1)
    )
    impatient = DuckDBEngine(data_dir=str(layout.root), lock_timeout_seconds=lock_timeout)
    spark = build_engine(PlatformSettings(data_dir=layout.root)).spark  # never started here
    engine = PlatformEngine(duckdb=impatient, spark=spark)
    result = dg.materialize(
        [assets], partition_key=DAY.isoformat(), resources={"engine": engine}, raise_on_error=False
    )
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    return result.success, len(retries)


def test_a_held_lock_is_retried_and_an_error_of_the_sql_is_not(layout, monkeypatch, tmp_path):
    release = tmp_path / "release"
    holder = _hold_lock(layout.warehouse_db, 60, until=release)
    connect = DuckDBEngine.connect

    def connect_then_release(self, database=":memory:", read_only=False):
        try:
            return connect(self, database, read_only=read_only)
        except duckdb.IOException:
            release.touch()  # the first attempt failed on the lock: the other process lets go
            raise

    monkeypatch.setattr(DuckDBEngine, "connect", connect_then_release)
    try:  # the attempt waits 0.3 s for the lock and fails; the retry, 1 s later, finds it free
        succeeded, retries = _retried_build(layout, _constant(FIRST, "1"), monkeypatch, lock_timeout=0.3)
    finally:
        release.touch()
        holder.wait(timeout=30)
    assert (succeeded, retries) == (True, 1)
    assert _versions(layout, (FIRST,)) == {FIRST: [1]}

    broken = _constant(FIRST, "CAST(error('a bug in the SQL') AS INTEGER)")
    assert _retried_build(layout, broken, monkeypatch, lock_timeout=0.3) == (False, 0)


def test_a_failure_after_the_first_table_leaves_both_tables_as_before(layout, monkeypatch):
    assert _build(layout, [_constant(FIRST, "1"), _constant(SECOND, "1")], monkeypatch)
    assert _versions(layout) == {FIRST: [1], SECOND: [1]}
    # the first table's new rows are computed and written, then the second table's query fails
    injected = _constant(SECOND, "CAST(error('injected failure') AS INTEGER)")
    assert not _build(layout, [_constant(FIRST, "2"), injected], monkeypatch)
    assert _versions(layout) == {FIRST: [1], SECOND: [1]}
    assert _build(
        layout, [_constant(FIRST, "2"), _constant(SECOND, "2")], monkeypatch
    )  # the writer is not stuck
    assert _versions(layout) == {FIRST: [2], SECOND: [2]}


_KILLED_WRITER = """
import sys, time
from platform_assets.engines.base import PartitionWrite
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets_tests.engines.test_warehouse_lock import DAY, FIRST, SECOND, _constant

engine = DuckDBEngine(data_dir=sys.argv[1], memory_limit="1GB", threads=1)
commit_result = DuckDBEngine._commit_result

def first_then_hang(self, con, definition, partition, input_rows):
    written = commit_result(self, con, definition, partition, input_rows)
    print(f"wrote {definition.name}", flush=True)
    if definition.name == FIRST:
        time.sleep(600)  # killed here: the first table is written, the second not yet
    return written

list(engine.write_partitions([PartitionWrite(_constant(n, "1"), {}, DAY) for n in (FIRST, SECOND)]))
print("committed", flush=True)
DuckDBEngine._commit_result = first_then_hang
list(engine.write_partitions([PartitionWrite(_constant(n, "2"), {}, DAY) for n in (FIRST, SECOND)]))
"""


def test_a_killed_build_leaves_the_warehouse_opening_with_the_previous_state(layout):
    import platform_assets

    # the writer imports the platform this test imported, and this test module
    path = [str(Path(platform_assets.__file__).parents[1]), str(Path(__file__).resolve().parents[2])]
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(layout.root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=layout.root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
    )
    try:
        lines = [writer.stdout.readline().strip() for _ in range(2)]
        assert lines == ["committed", f"wrote {FIRST}"]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert _versions(layout) == {FIRST: [1], SECOND: [1]}  # the file opens; the kill undid the step


# -- a failed commit reports its cause ----------------------------------------------------------


class _CommitFails:
    """A connection whose COMMIT fails as a full disk makes DuckDB's fail: the transaction is
    aborted (rolled back) and an IOException names the file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self._con, self._path = con, path

    def execute(self, sql: str, *args):
        if sql.strip().upper() == "COMMIT":
            self._con.execute("ROLLBACK")
            raise duckdb.IOException(f'Could not write file "{self._path}": No space left on device')
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def test_a_failed_commit_surfaces_its_own_error_not_the_rollback(engine, layout, monkeypatch):
    engine.write_partition(_constant(FIRST, "1"), {}, DAY)
    connect = DuckDBEngine.connect

    def failing_connect(self, database=":memory:", read_only=False):
        con = connect(self, database, read_only=read_only)
        return _CommitFails(con, database) if database == str(layout.warehouse_db) else con

    monkeypatch.setattr(DuckDBEngine, "connect", failing_connect)
    with pytest.raises(duckdb.IOException, match="No space left on device") as raised:
        engine.write_partition(_constant(FIRST, "2"), {}, DAY)
    assert str(layout.warehouse_db) in str(raised.value)
    monkeypatch.undo()
    assert _versions(layout, (FIRST,)) == {FIRST: [1]}


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_at_the_commit_names_the_file_and_keeps_the_previous_state(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        from platform_assets.lib.layout import DataLayout

        small = DataLayout(mount).ensure()
        engine = DuckDBEngine(data_dir=str(mount), memory_limit="1GB", threads=1)
        engine.write_partition(_constant(FIRST, "1"), {}, DAY)
        # about 10 MB of distinct text for a 3 MB disk
        big = SqlDefinition(
            name=FIRST,
            sql=f"SELECT DATE '{DAY.isoformat()}' AS event_date, 2 AS version, md5(range::VARCHAR) AS pad "
            "FROM range(300000)",
            description="too big for the disk",
            partition_column="event_date",
        )
        with pytest.raises(duckdb.Error) as raised:
            engine.write_partition(big, {}, DAY)
        message = str(raised.value)
        assert "No space left on device" in message and str(small.warehouse_db) in message, message
        assert "cannot rollback" not in message
        with duckdb.connect(str(small.warehouse_db)) as con:
            assert con.execute(f"SELECT version FROM {FIRST}").fetchall() == [(1,)]
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
