"""Access-log lines sessionised in buckets of visitors (engines/duckdb_sessionise.py) give the lake
events of one query over every line: forced into small buckets, a real server log and a generated
combined-format file land the same rows, every column, as with one bucket."""

import duckdb
import pytest

from platform_assets.engines import duckdb as duckdb_engine
from platform_assets.engines import duckdb_sessionise
from platform_assets.lib.layout import file_id
from platform_assets.lib.log_generator import generate_logs


def _lake_rows(layout) -> list[tuple]:
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(
            f"SELECT * FROM read_parquet('{layout.events}/date=*/*.parquet', hive_partitioning = false) "
            "ORDER BY source_file, source_line"
        ).fetchall()


def _ingest(engine, files) -> None:
    for path in files:
        engine.ingest_log_file(str(path), path.name, file_id(path.name))


@pytest.fixture
def access_logs(layout, real_apache_log, tmp_path):
    generated = generate_logs(tmp_path / "gen", "2026-11-20", 2, 1500, fmt="combined", seed=5)
    return [real_apache_log, *(g.path for g in generated)]


def test_visitor_buckets_land_the_events_of_one_query(engine, layout, access_logs, monkeypatch):
    _ingest(engine, access_logs)
    one_query = _lake_rows(layout)
    assert len(one_query) > 12_000

    used = []

    def recorded(con, lines):
        buckets = duckdb_sessionise.visitor_buckets(con, lines)
        used.append(len(buckets))
        return buckets

    monkeypatch.setattr(duckdb_engine, "visitor_buckets", recorded)
    monkeypatch.setattr(duckdb_sessionise, "LINES_PER_GIB", 700)  # 1 GB limit: about 650 lines a bucket
    _ingest(engine, access_logs)  # each file again: its new ingestion replaces the previous one
    assert min(used) >= 3, used  # every file was sessionised in several buckets
    bucketed = _lake_rows(layout)
    assert bucketed == one_query
    with duckdb.connect() as con:  # and a derived session never spans two visitors
        spanning = con.execute(
            f"SELECT count(*) FROM (SELECT session_id FROM '{layout.events}/date=*/*.parquet' "
            "GROUP BY session_id HAVING count(DISTINCT visitor_id) > 1)"
        ).fetchone()[0]
    assert spanning == 0


def test_the_memory_limit_sets_the_bucket_count(engine):
    with engine.connect() as con:  # the engine's 1 GB limit (DuckDB reports 953.6 MiB)
        limit = duckdb_sessionise.memory_limit_bytes(con)
        assert 0.9e9 < limit <= 1e9
        per_bucket = int(duckdb_sessionise.LINES_PER_GIB * limit / 2**30)
        assert duckdb_sessionise.visitor_buckets(con, per_bucket) == ["TRUE"]
        assert duckdb_sessionise.visitor_buckets(con, per_bucket + 1) == [
            "hash(visitor_id) % 2 = 0",
            "hash(visitor_id) % 2 = 1",
        ]
