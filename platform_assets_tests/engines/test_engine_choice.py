"""The ``engine`` resource picks DuckDB or Spark from its kind and, for ``auto``, the input size."""

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.engines.base import IngestResult, LakeDays, PartitionWrite, TableWrite, WarehouseRows
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.resource import DEFAULT_AUTO_SPARK_MIN_BYTES, PlatformEngine
from platform_assets.engines.spark import SparkEngine
from platform_assets.resources import build_engine
from platform_assets.settings import load_settings
from platform_assets.sql import load

DAY = dt.date(2025, 3, 1)


def _engine(layout, kind: str, threshold: int = 1000) -> PlatformEngine:
    warehouse = DuckDBEngine(data_dir=str(layout.root))
    return PlatformEngine(
        kind=kind,
        auto_spark_min_bytes=threshold,
        duckdb=warehouse,
        spark=SparkEngine(data_dir=str(layout.root), warehouse=warehouse),
    )


@pytest.mark.parametrize(
    ("kind", "size", "expected"),
    [
        ("duckdb", 10**12, "duckdb"),
        ("spark", 1, "spark"),
        ("auto", 999, "duckdb"),
        ("auto", 1000, "spark"),
    ],
)
def test_kind_and_threshold_choose_the_engine(layout, kind, size, expected):
    assert _engine(layout, kind).choose(size).name == expected


def test_an_unknown_kind_names_the_setting(layout):
    with pytest.raises(ValueError, match="PLATFORM_ENGINE"):
        _engine(layout, "polars").choose(1)


def test_settings_reach_the_resource(tmp_path):
    engine = build_engine(
        load_settings(
            {
                "PLATFORM_DATA_DIR": str(tmp_path),
                "PLATFORM_ENGINE": "auto",
                "PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES": "3G",
                "PLATFORM_SPARK_MASTER": "spark://10.0.0.5:7077",
                "PLATFORM_SPARK_EXECUTOR_MEMORY": "8g",
                "PLATFORM_SPARK_LAKE_URI": "s3a://bucket/lake",
                "PLATFORM_SPARK_CONF": "spark.hadoop.fs.s3a.endpoint=http://minio:9000, "
                "spark.executor.cores=4",
            }
        )
    )
    assert (engine.kind, engine.auto_spark_min_bytes) == ("auto", 3 * 1024**3)
    config = engine.spark.spark_config()
    assert config["spark.master"] == "spark://10.0.0.5:7077"
    assert config["spark.executor.memory"] == "8g"
    assert config["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert config["spark.executor.cores"] == "4"
    assert config["spark.sql.session.timeZone"] == "UTC"
    assert engine.spark.lake_root() == "s3a://bucket/lake"
    default = load_settings({"PLATFORM_DATA_DIR": str(tmp_path)})
    assert default.auto_spark_min_bytes == DEFAULT_AUTO_SPARK_MIN_BYTES


def test_ingest_goes_to_the_engine_the_file_size_calls_for(layout, monkeypatch):
    small, large = layout.landing / "small.jsonl", layout.landing / "large.jsonl"
    small.write_bytes(b"x" * 999)
    large.write_bytes(b"x" * 1000)
    calls = []

    def fake(name):
        def ingest(self, path, source_file, fid):
            calls.append((name, os.path.basename(path)))
            return IngestResult(1, {}, 1, {}, None, [], [])

        return ingest

    monkeypatch.setattr(DuckDBEngine, "ingest_log_file", fake("duckdb"))
    monkeypatch.setattr(SparkEngine, "ingest_log_file", fake("spark"))
    engine = _engine(layout, "auto")
    results = [engine.ingest_log_file(str(p), p.name, p.stem) for p in (small, large)]
    assert calls == [("duckdb", "small.jsonl"), ("spark", "large.jsonl")]
    assert [(r.engine, r.input_bytes) for r in results] == [("duckdb", 999), ("spark", 1000)]


def test_partition_writes_weigh_the_lake_bytes_their_views_read(layout, monkeypatch):
    day_dir = layout.day_dir(DAY.isoformat())
    day_dir.mkdir(parents=True)
    for name, rows in (("a__0.parquet", 600), ("b__0.parquet", 500)):  # adopted by the lake catalog
        pq.write_table(pa.table({"n": list(range(rows))}), day_dir / name, compression="none")
    (day_dir / "c__7.parquet").write_bytes(b"p" * 5000)  # not catalogued: not read, not weighed
    lake_bytes = sum(p.stat().st_size for p in (day_dir / "a__0.parquet", day_dir / "b__0.parquet"))
    chosen = []

    def fake(name):
        def write(self, writes):
            for w in writes:
                chosen.append(name)
                yield TableWrite(table=w.definition.name, rows=0, columns=[], partition=w.partition)

        return write

    monkeypatch.setattr(DuckDBEngine, "write_partitions", fake("duckdb"))
    monkeypatch.setattr(SparkEngine, "write_partitions", fake("spark"))
    mart = PartitionWrite(load("marts/daily_traffic"), {"events": LakeDays("events", DAY, DAY)}, DAY)
    history = PartitionWrite(
        load("features/session_features"), {"h": WarehouseRows("sessions", "event_date", DAY, DAY)}, DAY
    )
    (written,) = _engine(layout, "auto", threshold=lake_bytes).write_partitions([mart])
    assert (chosen, written.engine, written.input_bytes) == (["spark"], "spark", lake_bytes)
    (written,) = _engine(layout, "auto", threshold=lake_bytes + 1).write_partitions([mart])
    assert (chosen[-1], written.input_bytes) == ("duckdb", lake_bytes)
    (written,) = _engine(layout, "auto", threshold=1).write_partitions([history])
    assert (chosen[-1], written.input_bytes) == ("duckdb", 0)
