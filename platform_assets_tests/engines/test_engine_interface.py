"""Both engines implement the one interface the facade dispatches to; the lake's columns and types
are declared once, in the SQL headers, and are what the engines write."""

import inspect

import pyarrow.parquet as pq
import pytest

from platform_assets.engines.base import Engine
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.lake_files import arrow_schema, duckdb_type, lake_types
from platform_assets.engines.spark import SparkEngine
from platform_assets.layers.lake.checks import EVENT_TYPES, QUARANTINE_TYPES
from platform_assets.lib.layout import file_id
from platform_assets.resources import build_engine
from platform_assets.settings import PlatformSettings
from platform_assets.sql import load

OPERATIONS = ("ingest_log_file", "write_partitions")


def test_both_engines_are_engines(tmp_path):
    warehouse = DuckDBEngine(data_dir=str(tmp_path))
    for engine in (warehouse, SparkEngine(data_dir=str(tmp_path), warehouse=warehouse)):
        assert isinstance(engine, Engine)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_both_engines_have_the_interface_signatures(operation):
    expected = inspect.signature(getattr(Engine, operation))
    for engine in (DuckDBEngine, SparkEngine):
        assert inspect.signature(getattr(engine, operation)) == expected, engine.__name__
    assert isinstance(DuckDBEngine.name, property) and isinstance(SparkEngine.name, property)


def test_spark_loads_into_the_warehouse_the_facade_reads(tmp_path):
    engine = build_engine(PlatformSettings(data_dir=tmp_path))
    assert engine.spark.warehouse == engine.duckdb


@pytest.mark.parametrize("table", ["events", "quarantine"])
def test_the_types_header_lists_the_documented_columns_in_order(table):
    assert list(lake_types(table)) == list(load(f"lake/{table}").columns)


def test_the_lake_checks_read_the_declared_types():
    assert (lake_types("events"), lake_types("quarantine")) == (EVENT_TYPES, QUARANTINE_TYPES)


def test_duckdb_writes_the_declared_quarantine_and_event_types(engine, layout):
    path = layout.landing / "mixed.jsonl"
    path.write_text(
        '{"ts": "2025-03-01T10:00:00Z", "ip": "10.0.0.1", "method": "GET", "path": "/", "status": 200}\n'
        "not json at all\n"
    )
    result = engine.ingest_log_file(str(path), "mixed.jsonl", file_id("mixed.jsonl"))
    assert result.quarantined == 1
    quarantine = pq.read_schema(layout.quarantine_file(file_id("mixed.jsonl")))
    assert quarantine.remove_metadata() == arrow_schema(lake_types("quarantine"))
    assert {c.name: c.type for c in result.event_columns} == lake_types("events")
    for fragment in layout.fragments_of(file_id("mixed.jsonl")):
        schema = pq.read_schema(fragment)
        assert {f.name: duckdb_type(f.type) for f in schema} == lake_types("events")
