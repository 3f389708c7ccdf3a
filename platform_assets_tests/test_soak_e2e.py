"""The production instance under load: ``dagster dev`` on PostgreSQL, a backlog of landed files, two
writers for the warehouse (``benchmarks/soak.py`` does the work; its docstring tells what and how).

Scaled for CI: every ingest is a run, a process of its own (several seconds of CPU on 2 cores), so
the full soak (2,000 files) is ``python -m benchmarks.soak``, with its figures in
``benchmarks/RESULTS.md``. Expected values come from what the soak wrote (counted while writing),
the lake and warehouse are read with DuckDB, runs with SQL on Dagster's own Postgres tables.

Needs ``PLATFORM_TEST_POSTGRES_URL`` (``.ci/run`` starts a private server and sets it). Without it
the Postgres tests skip, except under CI, where they fail: CI must not lose them silently.
"""

import os
from pathlib import Path

import pytest
import yaml

from platform_assets_tests.soak import (
    BUILD_JOB,
    DAYS,
    DAYS_SENSOR,
    INGEST_JOB,
    LANDING_SENSOR,
    POSTGRES_INSTANCE,
    URL_VARIABLE,
    SoakSize,
    overlapping_writes,
    run_soak,
)

DEV_INSTANCE = Path(POSTGRES_INSTANCE).with_name("instance.yaml")
# 10 small files (one malformed line in every 4th) and 2 large ones (50,000 lines, 10 malformed
# each, the first gzipped). Each file is an ingest run, a process: 90 s measured on 2 cores at a
# load average of 4; about 8 minutes at a load average of 18.
CI_SIZE = SoakSize(small_files=10, small_events=50, large_files=2, large_events=50_000, malformed_every=4)
# Dagster's limit on a sensor evaluation is 60 s; "well under" is a third of it.
MAX_EVALUATION_SECONDS = 20


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get(URL_VARIABLE)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{URL_VARIABLE} is not set under CI: .ci/run must start PostgreSQL")
        pytest.skip(f"{URL_VARIABLE} is not set: no PostgreSQL server to test the production instance on")
    return url


def test_the_postgres_instance_is_the_dev_instance_with_postgres_storage():
    """Run queue, pools and monitoring must not differ between development and production."""
    production = yaml.safe_load(POSTGRES_INSTANCE.read_text())
    development = yaml.safe_load(DEV_INSTANCE.read_text())
    storage = production.pop("storage")
    assert "storage" not in development  # SQLite, Dagster's default
    assert production == development
    connection = storage["postgres"]["postgres_db"]
    # every connection setting comes from the environment: no host, user or secret in the repository
    assert {key: value for key, value in connection.items() if key != "scheme"} == {
        key: {"env": f"DAGSTER_PG_{name}"}
        for key, name in [
            ("hostname", "HOST"),
            ("port", "PORT"),
            ("username", "USERNAME"),
            ("password", "PASSWORD"),
            ("db_name", "DB"),
        ]
    }
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which dagster-postgres does not install
    assert connection["scheme"] == "postgresql+psycopg2"


@pytest.mark.e2e
def test_a_backlog_lands_exactly_once_and_two_day_builds_share_the_warehouse(tmp_path, postgres_url):
    result = run_soak(tmp_path, CI_SIZE, postgres_url, drain_timeout=900, build_timeout=300)
    landed, lake = result.landed, result.lake
    files = len(landed.lines_by_file)
    assert files == CI_SIZE.small_files + CI_SIZE.large_files
    assert landed.malformed == 3 + 2 * 10  # small files 0, 4, 8; 10 in each large file

    # The instance is PostgreSQL: runs, event log and ticks are in its tables, no SQLite beside it.
    assert result.sqlite_files == []
    assert result.runs_by_job == {INGEST_JOB: {"SUCCESS": files}, BUILD_JOB: {"SUCCESS": len(DAYS)}}
    assert result.postgres_tables["event_logs"] > 0
    assert result.postgres_tables["dynamic_partitions"] == files  # one log_files partition per file
    assert result.postgres_tables["job_ticks"] >= len({t.started for t in result.ticks}) > 0

    # Every event exactly once, the planted malformed lines in the quarantine, per file and per day.
    assert result.lost == 0
    assert result.duplicated == 0
    assert lake.events == landed.events == landed.lines - landed.malformed
    assert lake.distinct_lines == lake.events
    assert lake.events_by_file == {
        k: n - landed.malformed_by_file[k] for k, n in landed.lines_by_file.items()
    }
    assert lake.quarantined_by_file == {k: n for k, n in landed.malformed_by_file.items() if n}
    assert lake.events_by_day == dict(landed.events_by_day)

    # Every sensor evaluation well under Dagster's limit, no tick failed; the landing sensor requested
    # each file once. (A tick also submits the runs it requested, one by one, after the evaluation:
    # printed, not bounded here; see benchmarks/RESULTS.md.)
    assert {t.sensor for t in result.ticks} >= {LANDING_SENSOR, DAYS_SENSOR}
    assert not [t for t in result.ticks if t.status == "FAILURE"]
    # it logs a summary every tick (a tick still in flight when the ticks are read has not yet)
    landing = [t for t in result.ticks if t.sensor == LANDING_SENSOR and t.status != "STARTED"]
    assert landing and all(t.evaluation_seconds is not None for t in landing), [
        t for t in landing if t.evaluation_seconds is None
    ]
    slowest = sorted(result.ticks, key=lambda t: -(t.evaluation_seconds or 0))[:3]
    assert result.max_evaluation_seconds() < MAX_EVALUATION_SECONDS, slowest
    print(
        f"soak: drain {result.drain_seconds:.1f} s for {files} files; slowest evaluation "
        f"{result.max_evaluation_seconds():.2f} s, slowest whole tick {result.max_tick_seconds():.2f} s"
    )
    assert sum(t.runs for t in result.ticks if t.sensor == LANDING_SENSOR) == files
    assert result.drain_seconds > 0

    # Two writers: one tick of the days sensor requested both days; both runs succeeded, the pool
    # let one warehouse step write at a time, and the warehouse holds each day's events exactly.
    builds = result.build_runs
    assert sorted(r["tags"]["dagster/partition"] for r in builds) == [d.isoformat() for d in DAYS]
    assert {r["status"] for r in builds} == {"SUCCESS"}
    assert [t.runs for t in result.ticks if t.sensor == DAYS_SENSOR and t.runs] == [len(DAYS)]
    assert result.pooled  # build_day has steps in the warehouse pool...
    for run in builds:  # ...each ran in both runs...
        assert result.pooled <= {s["stepKey"] for s in run["stepStats"]}
    assert overlapping_writes(result) == []  # ...never two at once
    assert result.warehouse_by_day == dict(landed.events_by_day) == result.lake_by_day_at_build
