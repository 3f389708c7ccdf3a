"""One definition, two engines: every mart and feature table built by Spark equals DuckDB's.

The same generated days (late events, malformed lines, JSON lines and an access log) are ingested
once; the lake is copied into two data dirs and the ``build_day`` job runs there as one backfill
run, with ``PLATFORM_ENGINE=duckdb`` in one and ``spark`` (``local[2]``) in the other. The tables
are then read back with DuckDB and compared row for row (sorted; floats within 1e-9 relative).
"""

import shutil
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

pytestmark = pytest.mark.spark

FIRST, LAST = "2025-03-01", "2025-03-03"
TABLES = [d.name for folder in ("marts", "features") for d in load_folder(folder)]


def _settings(root: Path, engine: str):
    return load_settings(
        {
            "PLATFORM_DATA_DIR": str(root),
            "PLATFORM_ENGINE": engine,
            "PLATFORM_SPARK_MASTER": "local[2]",
            "PLATFORM_SPARK_SHUFFLE_PARTITIONS": "2",
            "PLATFORM_SPARK_DRIVER_MEMORY": "1g",
        }
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, dg.ExecuteInProcessResult]]:
    base = tmp_path_factory.mktemp("parity")
    source = DataLayout(base / "source").ensure()
    generate_logs(source.landing, FIRST, 3, 1_500, seed=11, malformed_rate=0.02)
    generate_logs(source.landing / "web", FIRST, 1, 800, fmt="combined", seed=12, malformed_rate=0.02)
    defs = build_definitions(_settings(source.root, "duckdb"))
    with dg.instance_for_test() as instance:
        for key in source.landed_keys():
            assert ingest(defs, instance, key).success, key
    results = {}
    for engine in ("duckdb", "spark"):
        root = base / engine
        DataLayout(root).ensure()
        shutil.copytree(source.lake, root / "lake", dirs_exist_ok=True)
        with dg.instance_for_test() as instance:
            run = build_days(build_definitions(_settings(root, engine)), instance, FIRST, LAST)
        assert run.success, f"build_day on {engine} failed"
        results[engine] = (root, run)
    return results


def _table(root: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT * FROM main.{table} ORDER BY ALL").df()


def _types(root: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        return [(name, kind) for name, kind, *_ in con.execute(f"DESCRIBE main.{table}").fetchall()]


@pytest.mark.parametrize("table", TABLES)
def test_spark_builds_the_same_rows_and_types_as_duckdb(built, table):
    (duck_root, _), (spark_root, _) = built["duckdb"], built["spark"]
    expected, actual = _table(duck_root, table), _table(spark_root, table)
    assert len(expected) > 0, f"{table}: no rows, the comparison would prove nothing"
    assert _types(spark_root, table) == _types(duck_root, table)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)


def test_the_data_really_has_late_events_and_malformed_lines(built):
    """Guards the fixture: the days mix files (late events) and lines were quarantined."""
    root, _ = built["duckdb"]
    with duckdb.connect() as con:
        files_per_day = con.execute(
            "SELECT event_date, count(DISTINCT source_file) FROM read_parquet(?) GROUP BY 1",
            [str(root / "lake" / "events" / "*" / "*.parquet")],
        ).fetchall()
        quarantined = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(root / "lake" / "quarantine" / "*.parquet")]
        ).fetchone()[0]
    assert max(n for _, n in files_per_day) >= 2
    assert quarantined > 0


def test_materializations_record_the_engine_and_its_input(built):
    for engine in ("duckdb", "spark"):
        _, run = built[engine]
        for event in run.get_asset_materialization_events():
            if event.asset_key.to_user_string() == "features/visitor_history":
                # the online store is cut by DuckDB whichever engine built the marts
                assert event.materialization.metadata["engine"].value == "duckdb"
                continue
            metadata = event.materialization.metadata
            assert metadata["engine"].value == engine
            assert metadata["input_rows_total"].value > 0
            if event.asset_key.path[0] == "warehouse":  # marts read lake Parquet
                assert metadata["input_bytes"].value > 0


def test_the_spark_session_ends_with_the_run(built):
    from pyspark import SparkContext

    assert SparkContext._active_spark_context is None
