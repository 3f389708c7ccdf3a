"""The platform runs itself: ``dagster dev`` (webserver + daemon) with the dev instance settings.

Nobody clicks anything. One log file holding events of two UTC days is dropped into ``landing/``;
``landing_files_sensor`` ingests it, ``lake_days_sensor`` requests one ``build_day`` run per day in
the same tick, and both runs go through Dagster's run queue (``max_concurrent_runs: 4``) and the
``warehouse`` pool (``default_limit: 1``) of ``platform_assets/deploy/instance.yaml``. They are in flight
at the same time and write the same DuckDB file, which an analyst also has open read-only: nothing
may fail on DuckDB's single-writer lock.

Expectations are computed independently of the platform: the events per UTC day are counted in
the written file with ``datetime``; the lake and the warehouse are read back with DuckDB.
"""

import datetime as dt
import itertools
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from platform_assets_tests.dagster_dev import REPO, dagster_dev, graphql, warehouse_requests_by_day

pytestmark = pytest.mark.e2e

SENSOR_INTERVAL_SECONDS = 2
TIMEOUT_SECONDS = 240
POLL_SECONDS = 1
DAYS = (dt.date(2026, 10, 30), dt.date(2026, 10, 31))
EVENTS_PER_DAY = 5_000
# How long the analyst may keep the warehouse open waiting for both runs to start.
MAX_HOLD_SECONDS = 90
FILE_KEY = "shop/two-days.jsonl"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUNS_QUERY = """{ runsOrError(limit: 50) { __typename
  ... on Runs { results { runId pipelineName status startTime endTime tags { key value }
    stats { ... on RunStatsSnapshot { launchTime } } stepStats { stepKey startTime endTime } } }
  ... on PythonError { message } } }"""
POOLS_QUERY = """{ pipelineOrError(params: {pipelineName: "build_day", repositoryName: "__repository__",
    repositoryLocationName: "platform_assets"}) { __typename
  ... on Pipeline { solids { name definition { pools } } } ... on PythonError { message } } }"""
SENSORS_QUERY = """{ sensorsOrError(repositorySelector:
    {repositoryName: "__repository__", repositoryLocationName: "platform_assets"}) { __typename
  ... on Sensors { results { name minIntervalSeconds sensorState { status } } }
  ... on PythonError { message } } }"""


def _write_two_day_file(path: Path) -> None:
    """JSON lines spread over both days, timestamps in several UTC offsets (or none = UTC).

    Written under a ``.part`` name and renamed: the sensor never picks up a half-written file.
    """
    rng = random.Random(20261030)
    start = dt.datetime.combine(DAYS[0], dt.time(), tzinfo=dt.UTC)
    offsets = [
        dt.timedelta(0),
        dt.timedelta(hours=2),
        dt.timedelta(hours=-5),
        dt.timedelta(hours=5, minutes=30),
    ]
    paths = ["/", "/product/42", "/cart", "/checkout", "/purchase", "/search?q=shoe", "/static/app.js"]
    lines = []
    for _ in range(EVENTS_PER_DAY * len(DAYS)):
        at = start + dt.timedelta(milliseconds=rng.randrange(len(DAYS) * 86_400_000))
        offset = rng.choice(offsets)
        local = at.astimezone(dt.timezone(offset)).isoformat(timespec="milliseconds")
        ts = local[:-6] if rng.random() < 0.2 and not offset else local  # no offset means UTC
        visitor = rng.randrange(500)
        event = {
            "ts": ts,
            "ip": f"10.0.{visitor // 250}.{visitor % 250}",
            "user_id": f"u{visitor}" if visitor % 3 else None,
            "session_id": f"s{visitor}-{at.hour // 6}",
            "method": "GET",
            "path": rng.choice(paths),
            "protocol": "HTTP/1.1",
            "status": rng.choice([200, 200, 200, 304, 404, 500]),
            "bytes": rng.randrange(100, 50_000),
            "latency_ms": round(rng.uniform(1, 900), 1),
            "referrer": None,
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
            "device": "desktop",
            "country": rng.choice(["DE", "FR", "US", "IN"]),
        }
        lines.append(json.dumps(event) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text("".join(lines))
    os.rename(partial, path)


def _events_per_utc_day(path: Path) -> dict[str, int]:
    """Count the file's lines per UTC day of their timestamp, with the standard library only."""
    days: Counter[str] = Counter()
    with open(path) as f:
        for line in f:
            ts = dt.datetime.fromisoformat(json.loads(line)["ts"])
            utc = ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
            days[utc.date().isoformat()] += 1
    return dict(days)


def _lake_events_per_day(data_dir: Path) -> dict[str, int]:
    if not any((data_dir / "lake" / "events").glob("date=*/*.parquet")):
        return {}
    fragments = f"{data_dir}/lake/events/*/*.parquet"
    rows = duckdb.sql(
        f"SELECT CAST(event_date AS VARCHAR), count(*) FROM read_parquet('{fragments}') "
        f"WHERE source_file = '{FILE_KEY}' GROUP BY 1"
    ).fetchall()
    return dict(rows)


def _runs(port: int) -> list[dict]:
    result = graphql(port, RUNS_QUERY)["data"]["runsOrError"]
    assert result["__typename"] == "Runs", result
    runs = result["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        run["launchTime"] = (run.pop("stats") or {}).get("launchTime")
    return runs


def _describe(runs: list[dict]) -> str:
    return (
        "; ".join(
            f"{r['pipelineName']}[{r['tags'].get('dagster/partition')}] {r['status']} "
            f"launched={r['launchTime']} started={r['startTime']} ended={r['endTime']} "
            f"by={r['tags'].get('dagster/sensor_name')}"
            for r in sorted(runs, key=lambda r: r["launchTime"] or 0)
        )
        or "no runs"
    )


def test_a_landed_file_flows_to_the_marts_through_overlapping_runs(tmp_path):
    data_dir = tmp_path / "data"
    env = {
        "PLATFORM_DATA_DIR": str(data_dir),
        "PLATFORM_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL_SECONDS),
        "OMP_WAIT_POLICY": "passive",
    }
    instance_yaml = (REPO / "platform_assets" / "deploy" / "instance.yaml").read_text()
    with dagster_dev(tmp_path, env, instance_yaml=instance_yaml) as server:
        sensors = graphql(server.port, SENSORS_QUERY)["data"]["sensorsOrError"]
        assert sensors["__typename"] == "Sensors", sensors
        assert {
            s["name"]: (s["sensorState"]["status"], s["minIntervalSeconds"]) for s in sensors["results"]
        } == {
            "landing_files_sensor": ("RUNNING", SENSOR_INTERVAL_SECONDS),
            "lake_days_sensor": ("RUNNING", SENSOR_INTERVAL_SECONDS),
            # no champion in this test: they run, and skip (tested in monitoring/test_sensors.py)
            "monitor_built_days": ("RUNNING", SENSOR_INTERVAL_SECONDS),
            "retrain_on_drift": ("RUNNING", SENSOR_INTERVAL_SECONDS),
            # no decision log lands in this test: they run and skip (experiments/test_*.py)
            "decision_days_sensor": ("RUNNING", SENSOR_INTERVAL_SECONDS),
            "experiment_decider": ("RUNNING", SENSOR_INTERVAL_SECONDS),
        }

        # Why the two runs overlap every time: a small day may build in less time than the second
        # run's process takes to start (~1.5 s against 5-15 s here, before data-quality checks
        # joined build_day), so left alone the second run could start when the first is already
        # done. An analyst has the warehouse open read-only (README's query command)
        # until both runs have started: the first run's write waits for DuckDB's lock (the engine
        # retries) while it holds the warehouse slot, and the second run's steps wait for the slot.
        # The second run can start at all because instance.yaml sets `op_granularity_run_buffer:
        # 1`; with the default (0) the queue keeps it queued while the first holds the slot.
        job = graphql(server.port, POOLS_QUERY)["data"]["pipelineOrError"]
        assert job["__typename"] == "Pipeline", job
        pooled = {op["name"] for op in job["solids"] if "warehouse" in op["definition"]["pools"]}
        assert pooled, job  # build_day writes the warehouse: its writing steps hold the pool

        warehouse_db = data_dir / "warehouse" / "warehouse.duckdb"
        warehouse_db.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(warehouse_db)).close()  # empty, as the first write would create it
        analyst: duckdb.DuckDBPyConnection | None = duckdb.connect(str(warehouse_db), read_only=True)
        held_since, released = time.monotonic(), None

        landed = data_dir / "landing" / FILE_KEY
        _write_two_day_file(landed)
        expected = _events_per_utc_day(landed)
        assert sorted(expected) == [d.isoformat() for d in DAYS]  # the file really spans both days

        deadline = time.monotonic() + TIMEOUT_SECONDS
        try:
            while True:
                runs = _runs(server.port)
                builds = [r for r in runs if r["pipelineName"] == "build_day"]
                started = [r for r in builds if r["startTime"]]
                if analyst and (len(started) >= 2 or time.monotonic() - held_since > MAX_HOLD_SECONDS):
                    analyst.close()
                    analyst, released = None, time.time()
                lake = _lake_events_per_day(data_dir)
                warehouse = {} if analyst else warehouse_requests_by_day(data_dir)
                failed = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
                done = len(builds) >= len(DAYS) and all(r["status"] in TERMINAL for r in runs)
                if failed or (done and lake == expected and warehouse == expected):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"not done within {TIMEOUT_SECONDS} s: expected {expected}, lake {lake}, "
                        f"warehouse {warehouse}; runs: {_describe(runs)}\n{server.log_tail()}"
                    )
                time.sleep(POLL_SECONDS)
        finally:
            if analyst:
                analyst.close()

    assert not failed, f"runs failed: {_describe(runs)}\n{server.log_tail()}"
    assert lake == expected
    assert warehouse == expected
    ingests = [r for r in runs if r["pipelineName"] == "ingest_log_file"]
    assert [(r["tags"]["dagster/partition"], r["tags"]["dagster/sensor_name"]) for r in ingests] == [
        (FILE_KEY, "landing_files_sensor")
    ]
    assert sorted((r["tags"]["dagster/partition"], r["tags"]["dagster/sensor_name"]) for r in builds) == [
        (day.isoformat(), "lake_days_sensor") for day in DAYS
    ], _describe(runs)
    assert all(r["status"] == "SUCCESS" for r in runs), _describe(runs)

    first, second = sorted(builds, key=lambda r: r["startTime"])
    print(f"analyst released the warehouse at {released}; build_day runs: {_describe(builds)}")
    # Both in flight at the same time: the second run started before the first one ended.
    assert second["startTime"] < first["endTime"], (
        f"build_day runs did not overlap (the second stayed queued while the first held the "
        f"warehouse slot?): {_describe(builds)}"
    )
    assert first["endTime"] > released  # the first run's write did wait for the analyst's lock
    # The pool let one step write the warehouse at a time, across both runs (steps of an asset
    # job are named after their op; checks that only read the warehouse are not in the pool).
    writes = sorted(
        (s["startTime"], s["endTime"], s["stepKey"], r["tags"]["dagster/partition"])
        for r in builds
        for s in r["stepStats"]
        if s["stepKey"] in pooled
    )
    assert {w[2] for w in writes} == pooled, writes  # every pooled step ran in both runs...
    assert len(writes) == len(pooled) * len(builds), writes
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(writes)), writes  # ...one at a time
