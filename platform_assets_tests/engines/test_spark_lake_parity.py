"""One landed file, two engines: Spark's lake ingestion writes what DuckDB's writes.

Generated files (JSON lines over three days with late events and malformed lines, a combined
access log, a gzip file) and a hand-made file of edge cases are each ingested by DuckDBEngine into
one data dir and by SparkEngine (``local[2]``) into another; the lake events, the quarantine and
the IngestResult counts must be equal. One Spark session serves the module.
"""

import gzip
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.spark import SparkEngine
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets.lib.log_generator import generate_logs
from platform_assets_tests.lake.test_value_domains import HOSTILE_FILES

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    base = tmp_path_factory.mktemp("lake_parity")
    duck = DuckDBEngine(data_dir=str(DataLayout(base / "duckdb").ensure().root), threads=2)
    spark_root = str(DataLayout(base / "spark").ensure().root)
    spark = SparkEngine(
        data_dir=spark_root,
        warehouse=DuckDBEngine(data_dir=spark_root),
        master="local[2]",
        shuffle_partitions=2,
        driver_memory="1g",
    )
    spark.session()
    yield base, duck, spark
    spark.stop()


def _ingest_both(engines, path: Path, key: str):
    _, duck, spark = engines
    fid = file_id(key)
    return duck.ingest_log_file(str(path), key, fid), spark.ingest_log_file(str(path), key, fid)


def _read(root: str, what: str) -> pd.DataFrame:
    glob = f"{root}/lake/events/date=*/*.parquet" if what == "events" else f"{root}/lake/quarantine/*.parquet"
    with duckdb.connect() as con:
        query = f"SELECT * FROM read_parquet('{glob}', hive_partitioning = false)"
        return con.execute(f"{query} ORDER BY source_file, source_line").df()


def _types(root: str, what: str) -> list[tuple[str, str]]:
    glob = f"{root}/lake/events/date=*/*.parquet" if what == "events" else f"{root}/lake/quarantine/*.parquet"
    with duckdb.connect() as con:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning = false)"
        ).fetchall()
    return [(name, kind) for name, kind, *_ in rows]


def _assert_counts_equal(expected, actual):
    assert actual.lines == expected.lines
    assert actual.events_by_day == expected.events_by_day
    assert actual.quarantined == expected.quarantined
    assert actual.reasons == expected.reasons
    assert actual.event_columns == expected.event_columns
    assert actual.fragments == expected.fragments


@pytest.fixture(scope="module")
def generated(engines):
    base, _, _ = engines
    landing = base / "landing"
    generate_logs(landing, "2025-03-01", 3, 2_000, seed=21, malformed_rate=0.02)
    generate_logs(landing / "web", "2025-03-01", 1, 2_000, fmt="combined", seed=22, malformed_rate=0.02)
    generate_logs(landing / "gz", "2025-03-02", 1, 1_500, seed=23, gzip=True, malformed_rate=0.02)
    keys = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    results = {key: _ingest_both(engines, landing / key, key) for key in keys}
    return keys, results


def test_generated_files_give_the_same_counts(generated):
    keys, results = generated
    assert len(keys) == 5 and any(k.endswith(".gz") for k in keys)
    for key in keys:
        expected, actual = results[key]
        assert expected.quarantined > 0 and expected.events > 0, key
        _assert_counts_equal(expected, actual)


def test_generated_files_give_the_same_lake(engines, generated):
    _, duck, spark = engines
    for what in ("events", "quarantine"):
        expected, actual = _read(duck.data_dir, what), _read(spark.data_dir, what)
        assert len(expected) > 0
        assert _types(spark.data_dir, what) == _types(duck.data_dir, what)
        pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)
    # late events: a file's events land in the days they happened, not only the file's day
    events = _read(spark.data_dir, "events")
    assert events.groupby("source_file")["event_date"].nunique().max() > 1


EDGE_LINES = [
    b'{"ts": "2025-03-01T10:00:00+02:00", "ip": "10.0.0.1", "method": "get", "path": "/cart?x=1", '
    b'"status": 200, "bytes": 12, "latency_ms": 12.50, "session_id": "s1"}\r',  # CRLF line
    b"",  # empty line
    b"   \t ",  # blank line
    b"\x0b",  # vertical tab: not blank for RE2's \s
    b"\xff\xfe not utf-8 \xe2\x82 \xed\xa0\x80 caf\xc3\xa9\r",  # invalid UTF-8 bytes
    b'127.0.0.1 - frank [01/Mar/2025:10:00:00 -0700] "GET /product/1 HTTP/1.0" 200 2326',  # common
    b'10.1.1.1 - - [01/Mar/2025:11:00:00 +0000] "POST /api/x HTTP/1.1" 201 - "http://r/" '
    b'"Mozilla \\"quoted\\" (iPhone; Mobile)" 0.250 extra',  # combined, escapes, request time
    b'10.1.1.2 - - [01/Mar/2025:11:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "' + b"y" * 200_000 + b'"',
    b'10.1.1.3 - - [01/Mar/2025:11:00:02 +0000] "GET /many HTTP/1.1" 200 5' + b" t" * 5_000,
    b'{"ts": "2025-03-01T10:00:00Z", "ip": "1.2.3.4"',  # bad JSON (truncated)
    b'{"ts": "2025-03-01T10:00:00Z", "ip": "1.2.3.4", "path": "/", "status": 200} trailing',
    b'{"ts": "not a time", "ip": "1.2.3.4", "path": "/", "status": 200}',
    b'{"ts": "2025-03-01T10:00:00Z", "ip": "1.2.3.4", "path": "/", "status": 999}',
    b"x" * (1024 * 1024 + 10),  # longer than 1 MiB
    b'{"ts": "2025-03-02T23:59:59-01:00", "ip": "9.9.9.9", "path": "/search?q=a", "status": "404"}',
    b'{"ts": "9999-12-31T23:00:00-05:00", "ip": "1.2.3.4", "path": "/", "status": 200}',  # out of range
    b'{"ts": "2025-03-01T10:00:00Z", "ip": "1.2.3.4", "status": 200, "bytes": -9223372036854775808}',
]


def test_edge_cases_match_duckdb(engines, tmp_path):
    _, duck, spark = engines
    path = tmp_path / "edge.log"
    path.write_bytes(b"\n".join(EDGE_LINES))  # no final newline
    gz = tmp_path / "edge-gz.log"  # gzip content under a name without .gz
    gz.write_bytes(gzip.compress(b"\n".join(EDGE_LINES) + b"\n"))
    for key, file in (("edge/edge.log", path), ("edge/edge-gz.log", gz)):
        expected, actual = _ingest_both(engines, file, key)
        _assert_counts_equal(expected, actual)
        assert expected.lines == len(EDGE_LINES)
    for what in ("events", "quarantine"):
        expected = _read(duck.data_dir, what).query("source_file.str.startswith('edge/')")
        actual = _read(spark.data_dir, what).query("source_file.str.startswith('edge/')")
        pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected.reset_index(drop=True))
    quarantine = _read(spark.data_dir, "quarantine").set_index(["source_file", "source_line"])
    # undecodable bytes are \xNN-escaped exactly as Python's backslashreplace, \r stripped
    assert (
        quarantine.loc[("edge/edge.log", 5), "raw_line"] == r"\xff\xfe not utf-8 \xe2\x82 \xed\xa0\x80 café"
    )
    assert quarantine.loc[("edge/edge.log", 4), "reason"] == "not a recognised access-log line"
    assert quarantine.loc[("edge/edge.log", 14), "reason"] == "line longer than 1 MiB"
    assert quarantine.loc[("edge/edge.log", 16), "reason"] == "timestamp out of range"
    assert quarantine.loc[("edge/edge.log", 17), "reason"] == "invalid byte count"


def test_a_truncated_gzip_falls_back_to_duckdb(engines, tmp_path):
    data = gzip.compress(b"\n".join(EDGE_LINES[:1] * 20_000) + b"\n")
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    expected, actual = _ingest_both(engines, path, "cut/cut.log.gz")
    _assert_counts_equal(expected, actual)
    assert (
        actual.stream_error and actual.reasons.get(f"corrupt compressed stream: {actual.stream_error}") == 1
    )


def test_line_numbers_stay_exact_when_spark_splits_the_file_into_many_blocks(engines, tmp_path, monkeypatch):
    """A large file is read as several splits: numbering by block offsets must still count lines
    exactly as the single-stream reader does (here 64 KiB splits of a ~1.3 MB file)."""
    from platform_assets.engines import spark_ingest

    original = spark_ingest._child_session

    def small_splits(spark):
        session = original(spark)
        session.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
        session.conf.set("spark.sql.files.openCostInBytes", "0")
        return session

    monkeypatch.setattr(spark_ingest, "_child_session", small_splits)
    _, duck, spark = engines
    (generated_file,) = generate_logs(tmp_path, "2025-03-05", 1, 4_000, seed=31, malformed_rate=0.02)
    path = Path(generated_file.path)
    assert path.stat().st_size > 16 * 64 * 1024, "too small to be split into many blocks"
    key = "blocks/" + path.name
    expected, actual = _ingest_both(engines, path, key)
    _assert_counts_equal(expected, actual)
    with duckdb.connect() as con:
        rows = {
            root: con.execute(
                "SELECT source_line, path, status FROM read_parquet(?) ORDER BY source_line",
                [str(p) for p in DataLayout(Path(root)).fragments_of(file_id(key))],
            ).fetchall()
            for root in (duck.data_dir, spark.data_dir)
        }
    assert len(rows[duck.data_dir]) == expected.events
    assert rows[spark.data_dir] == rows[duck.data_dir]


@pytest.mark.parametrize(("name", "cases"), HOSTILE_FILES)
def test_hostile_values_and_cut_lines_match_duckdb(engines, tmp_path, name, cases):
    """The value-domain and file-format rules of lake/parse_lines and lake/checked_lines give the
    same rows on Spark, and the reasons written by hand in lake/test_value_domains.py."""
    _, duck, spark = engines
    path = tmp_path / name
    path.write_bytes("\n".join(line for line, _ in cases).encode() + b"\n")
    key = f"hostile/{name}"
    expected, actual = _ingest_both(engines, path, key)
    _assert_counts_equal(expected, actual)
    for what in ("events", "quarantine"):
        rows = _read(duck.data_dir, what).query("source_file == @key").reset_index(drop=True)
        pd.testing.assert_frame_equal(
            _read(spark.data_dir, what).query("source_file == @key").reset_index(drop=True), rows
        )
    quarantine = _read(spark.data_dir, "quarantine").query("source_file == @key")
    reasons = {n: e for n, (_, e) in enumerate(cases, start=1) if isinstance(e, str)}
    assert dict(zip(quarantine["source_line"], quarantine["reason"], strict=True)) == reasons
