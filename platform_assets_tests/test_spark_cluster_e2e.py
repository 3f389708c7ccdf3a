"""End to end on a Spark standalone cluster: a generated day built through Dagster with
``PLATFORM_ENGINE=spark`` against ``spark://127.0.0.1:PORT`` gives the same marts and features as
``PLATFORM_ENGINE=duckdb`` in another data dir.

The cluster (one master, one 1-core/1 GB worker, started from the installed pyspark) comes from
:mod:`platform_assets_tests.spark_cluster`. The lake is ingested by Spark on the cluster when the
Spark lake ingest (``platform_assets.engines.spark_ingest``) is installed, else (or with
``PLATFORM_TEST_SPARK_INGEST=0``) by DuckDB in both dirs, and only the day's marts and features
run on the cluster. Every table of the day is then read from both ``warehouse.duckdb`` files and
compared row for row (sorted; floats within 1e-9).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.log_generator import generate_logs
from platform_assets.settings import load_settings
from platform_assets.sql import load_folder
from platform_assets_tests.checks_support import build_days, ingest
from platform_assets_tests.spark_cluster import SparkCluster, spark_cluster  # noqa: F401 (fixture)

pytestmark = [pytest.mark.spark, pytest.mark.e2e]

DAY = "2026-04-02"
EVENTS = 2_000
MARTS = [d.name for d in load_folder("marts")]
FEATURES = [d.name for d in load_folder("features")]
# Spark lake ingest is used when it is installed (PLATFORM_TEST_SPARK_INGEST=0: the DuckDB lake)
SPARK_INGEST = (
    importlib.util.find_spec("platform_assets.engines.spark_ingest") is not None
    and os.environ.get("PLATFORM_TEST_SPARK_INGEST", "1") != "0"
)


def _settings(root: Path, engine: str, master: str = "local[1]"):
    return load_settings(
        {
            "PLATFORM_DATA_DIR": str(root),
            "PLATFORM_ENGINE": engine,
            "PLATFORM_SPARK_MASTER": master,
            "PLATFORM_SPARK_DRIVER_MEMORY": "1g",
            "PLATFORM_SPARK_EXECUTOR_MEMORY": "512m",  # within the worker's 1 GB
            "PLATFORM_SPARK_SHUFFLE_PARTITIONS": "2",
            "PLATFORM_SPARK_CONF": "spark.executor.cores=1,spark.cores.max=1",
        }
    )


@dataclass
class Built:
    root: Path
    ingests: list[dg.ExecuteInProcessResult]
    build: dg.ExecuteInProcessResult
    seconds: float


def _ingest_all(root: Path, engine: str, master: str) -> list[dg.ExecuteInProcessResult]:
    defs = build_definitions(_settings(root, engine, master))
    layout = DataLayout(root)
    with dg.instance_for_test() as instance:
        runs = [ingest(defs, instance, key) for key in layout.landed_keys()]
    for run in runs:
        assert run.success, f"ingest_log_file on {engine} failed"
    return runs


@pytest.fixture(scope="module")
def built(spark_cluster: SparkCluster, tmp_path_factory) -> dict[str, Built]:  # noqa: F811
    base = tmp_path_factory.mktemp("cluster_e2e")
    source = DataLayout(base / "source").ensure()
    files = generate_logs(source.landing, DAY, 1, EVENTS, seed=21, malformed_rate=0.004)
    assert files
    lake_engine = "spark" if SPARK_INGEST else "duckdb"
    duck_ingest = _ingest_all(source.root, "duckdb", "local[1]")
    results: dict[str, Built] = {}
    for engine in ("duckdb", "spark"):
        root = base / engine
        layout = DataLayout(root).ensure()
        started = time.monotonic()
        if engine == "spark" and SPARK_INGEST:
            shutil.copytree(source.landing, layout.landing, dirs_exist_ok=True)
            ingests = _ingest_all(root, "spark", spark_cluster.master_url)
        else:  # the DuckDB lake, copied
            shutil.copytree(source.lake, layout.lake, dirs_exist_ok=True)
            ingests = duck_ingest
        with dg.instance_for_test() as instance:
            settings = _settings(root, engine, spark_cluster.master_url)
            run = build_days(build_definitions(settings), instance, DAY)
        assert run.success, f"build_day on {engine} failed"
        results[engine] = Built(root, ingests, run, time.monotonic() - started)
    print(
        f"cluster start-up {spark_cluster.startup_seconds:.1f} s; lake by {lake_engine}; "
        f"duckdb day {results['duckdb'].seconds:.1f} s, spark day {results['spark'].seconds:.1f} s"
    )
    return results


def _table(root: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT * FROM main.{table} ORDER BY ALL").df()


def test_the_cluster_is_a_standalone_master_with_one_worker(spark_cluster):  # noqa: F811
    status = spark_cluster.status()
    assert status is not None and status["aliveworkers"] == 1
    assert spark_cluster.master_url.startswith("spark://127.0.0.1:")
    assert spark_cluster.startup_seconds < 90


@pytest.mark.parametrize("table", MARTS + FEATURES)
def test_the_cluster_builds_the_same_rows_as_duckdb(built, table):
    expected, actual = _table(built["duckdb"].root, table), _table(built["spark"].root, table)
    assert len(expected) > 0, f"{table}: no rows, the comparison would prove nothing"
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)


def test_the_materializations_say_which_engine_built_them(built):
    for engine in ("duckdb", "spark"):
        events = built[engine].build.get_asset_materialization_events()
        assert {e.asset_key.path[-1] for e in events} >= set(MARTS)
        for event in events:
            if event.asset_key.to_user_string() == "features/visitor_history":
                # the online store is cut by DuckDB whichever engine built the marts
                assert event.materialization.metadata["engine"].value == "duckdb"
                continue
            assert event.materialization.metadata["engine"].value == engine
    lake_engine = "spark" if SPARK_INGEST else "duckdb"
    for run in built["spark"].ingests:
        lake = [
            e for e in run.get_asset_materialization_events() if e.asset_key.to_user_string() == "lake/events"
        ]
        assert [e.materialization.metadata["engine"].value for e in lake] == [lake_engine]


def test_the_day_had_malformed_lines_quarantined(built):
    root = built["duckdb"].root
    with duckdb.connect() as con:
        quarantined = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(root / "lake" / "quarantine" / "*.parquet")]
        ).fetchone()[0]
    assert quarantined > 0


def test_the_work_ran_on_the_cluster_and_the_session_ended(built, spark_cluster):  # noqa: F811
    from pyspark import SparkContext

    status = spark_cluster.status()
    applications = status.get("completedapps", []) + status.get("activeapps", [])
    assert any(app.get("name") == "platform_assets" for app in applications), applications
    assert not status.get("activeapps"), "the run's Spark application ended with the run"
    assert SparkContext._active_spark_context is None
