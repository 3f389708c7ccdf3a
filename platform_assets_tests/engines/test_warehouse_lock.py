"""Two processes writing the warehouse: the second waits for DuckDB's file lock instead of failing."""

import datetime as dt
import subprocess
import sys
import time

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


def _hold_lock(path, seconds: float) -> subprocess.Popen:
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "con.execute('CREATE TABLE IF NOT EXISTS held (x INT)')\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
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
