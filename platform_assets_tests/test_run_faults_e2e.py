"""A day build killed with SIGKILL under ``dagster dev`` does not jam the warehouse.

The first ``build_day`` run (requested by ``lake_days_sensor`` after the landing sensor ingested a
file) holds the ``warehouse`` pool slot while its step waits for DuckDB's lock, which an analyst
holds. Its process is killed. With run monitoring on (``platform_assets/deploy/instance.yaml``) the run is
marked FAILURE, its slot is freed, and the next ``build_day`` of the same day completes with every
check passing and the day's requests counted exactly. Without it, the slot stayed claimed by the dead
run and every later build logged "blocked by limit for pool warehouse" forever.
"""

import datetime as dt
import json
import os
import re
import signal
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from platform_assets_tests.dagster_dev import REPO, dagster_dev, launch_job, run_info, run_messages

pytestmark = pytest.mark.e2e

DAY = dt.date(2026, 10, 30)
EVENTS = 600
FILE_KEY = "web/one-day.jsonl"
POOL = "warehouse"
INSTANCE_YAML = REPO / "platform_assets" / "deploy" / "instance.yaml"
# Bounds: the code server notices a dead run process within seconds; the monitoring daemon polls
# every poll_interval_seconds and frees slots free_slots_after_run_end_seconds after a run's end.
FAILED_WITHIN_SECONDS = 60
FREED_WITHIN_SECONDS = 90
BUILT_WITHIN_SECONDS = 240


def _write_day(path: Path) -> int:
    """``EVENTS`` JSON lines on DAY (UTC), written under a ``.part`` name and renamed."""
    lines = []
    for i in range(EVENTS):
        ts = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=100 * i)
        event = {
            "ts": ts.isoformat(),
            "ip": f"10.0.0.{i % 50}",
            "session_id": f"s{i % 50}",
            "method": "GET",
            "path": f"/product/{i % 7}",
            "protocol": "HTTP/1.1",
            "status": 200,
            "bytes": 1000 + i,
            "latency_ms": 12.5,
            "user_agent": "Mozilla/5.0",
        }
        lines.append(json.dumps(event) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text("".join(lines))
    os.rename(partial, path)
    return len(lines)


def _wait(what: str, seconds: float, probe, server):
    """Poll ``probe`` every second until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s\n{server.log_tail()}")
        time.sleep(1)


def _claimed_slots(home: Path) -> list[tuple[str, str]]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(POOL)
        return [(slot.run_id, slot.step_key) for slot in info.claimed_slots]


def _build_runs(port: int) -> list[dict]:
    from platform_assets_tests.test_daemon_e2e import _runs

    return [r for r in _runs(port) if r["pipelineName"] == "build_day"]


def _pooled_step_waiting(port: int, run_id: str) -> bool:
    """The run's warehouse step has started (it holds the slot) and has not ended."""
    steps = {s["stepKey"]: s for s in run_info(port, run_id)["stepStats"]}
    step = steps.get("warehouse_tables")
    return bool(step and step["startTime"] and not step["endTime"])


def test_a_killed_build_is_marked_failed_and_frees_its_warehouse_slot(tmp_path):
    data_dir = tmp_path / "data"
    env = {
        "PLATFORM_DATA_DIR": str(data_dir),
        "PLATFORM_SENSOR_INTERVAL_SECONDS": "2",
        "OMP_WAIT_POLICY": "passive",
    }
    warehouse_db = data_dir / "warehouse" / "warehouse.duckdb"
    warehouse_db.parent.mkdir(parents=True)
    duckdb.connect(str(warehouse_db)).close()
    # An analyst's open connection: the build's step waits for the lock, holding its pool slot.
    analyst = duckdb.connect(str(warehouse_db), read_only=True)
    try:
        with dagster_dev(tmp_path, env, instance_yaml=INSTANCE_YAML.read_text()) as server:
            expected = _write_day(data_dir / "landing" / FILE_KEY)
            first = _wait(
                "build_day requested by the sensors",
                BUILT_WITHIN_SECONDS,
                lambda: _build_runs(server.port),
                server,
            )[0]["runId"]
            _wait(
                "the build's warehouse step waits for the lock",
                BUILT_WITHIN_SECONDS,
                lambda: _pooled_step_waiting(server.port, first),
                server,
            )
            assert [run for run, _ in _claimed_slots(server.home)] == [first]
            pids = [
                int(m.group(1))
                for m in map(
                    re.compile(r"Executing steps in process \(pid: (\d+)\)").search,
                    run_messages(server.port, first),
                )
                if m
            ]
            assert len(pids) == 1, pids
            os.kill(pids[0], signal.SIGKILL)
            killed = time.monotonic()

            _wait(
                "the killed run marked FAILURE",
                FAILED_WITHIN_SECONDS,
                lambda: run_info(server.port, first)["status"] == "FAILURE",
                server,
            )
            failed_after = time.monotonic() - killed
            _wait("its slot freed", FREED_WITHIN_SECONDS, lambda: not _claimed_slots(server.home), server)
            freed_after = time.monotonic() - killed
            analyst.close()

            second = launch_job(server.port, "build_day", {"dagster/partition": DAY.isoformat()})
            status = _wait(
                "the next build_day finished",
                BUILT_WITHIN_SECONDS,
                lambda: (
                    (s := run_info(server.port, second)["status"]) in ("SUCCESS", "FAILURE", "CANCELED") and s
                ),
                server,
            )
            print(f"killed run FAILURE after {failed_after:.1f} s, slot freed after {freed_after:.1f} s")
            assert status == "SUCCESS", server.log_tail()
            with dg.DagsterInstance.from_config(str(server.home)) as instance:
                records = instance.get_records_for_run(
                    second, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                ).records
                evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
            # Every blocking (ERROR) check passes. Advisory WARN checks about the model's inputs
            # (class balance, constant columns) object to one synthetic day and are not asserted.
            blocking = [
                (e.check_name, e.passed) for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR
            ]
            assert len(blocking) >= 5 and all(passed for _, passed in blocking), blocking
    finally:
        analyst.close()
    with duckdb.connect(str(warehouse_db), read_only=True) as con:
        requests = con.execute(
            "SELECT CAST(sum(requests) AS BIGINT) FROM daily_traffic WHERE event_date = ?", [DAY]
        ).fetchone()[0]
    assert requests == expected
