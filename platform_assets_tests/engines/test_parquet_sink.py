"""Parquet sinks: background writes keep order and lose nothing; a failed write is not swallowed."""

import datetime as dt
from contextlib import closing

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.engines import parquet_sink
from platform_assets.engines.parquet_sink import ParquetSink, PartitionedSink, WriteQueue

SCHEMA = pa.schema([("n", pa.int64()), ("day", pa.date32())])
DAYS = [dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)]


def _batches(count: int, size: int):
    for b in range(count):
        n = list(range(b * size, (b + 1) * size))
        yield pa.RecordBatch.from_arrays(
            [pa.array(n, pa.int64()), pa.array([DAYS[i % 3] for i in n])], schema=SCHEMA
        )


def test_background_writes_keep_every_row_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_sink, "ROW_GROUP_ROWS", 1000)  # many row groups, many queued writes
    with closing(WriteQueue(depth=2)) as queue:
        sink = PartitionedSink(tmp_path / "events", SCHEMA, "day", queue)
        for batch in _batches(40, 700):
            sink.write(batch)
        files = sink.close()
    assert sorted(files) == [d.isoformat() for d in DAYS]
    for i, day in enumerate(DAYS):
        values = pq.read_table(files[day.isoformat()]).column("n").to_pylist()
        # expected by construction: every third number, in the order written
        assert values == list(range(i, 40 * 700, 3))


def test_a_failed_background_write_is_raised(tmp_path):
    queue = WriteQueue()
    sink = ParquetSink(tmp_path / "one.parquet", SCHEMA, queue)
    wrong = pa.RecordBatch.from_arrays([pa.array(["not a number"]), pa.array([DAYS[0]])], names=["n", "day"])
    sink.write(wrong)
    with pytest.raises((ValueError, pa.ArrowInvalid, pa.ArrowTypeError)):
        sink.close()
    with pytest.raises((ValueError, pa.ArrowInvalid, pa.ArrowTypeError)):
        queue.close()
