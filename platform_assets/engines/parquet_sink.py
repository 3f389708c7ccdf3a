"""Streaming Parquet writers for the engine: rows arrive in Arrow batches, files leave whole.

:class:`PartitionedSink` keeps one writer per value of a partition column (a day), buffers rows to
full row groups, and closes everything into a staging folder; publishing (renaming into the lake)
is the caller's step, so a run killed midway leaves nothing visible. With a :class:`WriteQueue`,
row groups are encoded on a background thread while the caller produces the next batches (Arrow's
Parquet writer releases the GIL), so parsing and writing overlap.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 122_880
COMPRESSION = "zstd"


class WriteQueue:
    """One background thread that runs writes in submission order, with at most ``depth`` waiting
    (so memory stays bounded when parsing outpaces encoding). A failed write is raised to the
    caller at its next submit or at :meth:`drain`."""

    def __init__(self, depth: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._slots = threading.BoundedSemaphore(depth)
        self._pending: list[Future] = []

    def submit(self, fn, *args) -> Future:
        self._raise_failures()
        self._slots.acquire()
        future = self._pool.submit(fn, *args)
        future.add_done_callback(lambda _: self._slots.release())
        self._pending.append(future)
        return future

    def _raise_failures(self) -> None:
        still = []
        for future in self._pending:
            if future.done():
                future.result()
            else:
                still.append(future)
        self._pending = still

    def drain(self) -> None:
        for future in self._pending:
            future.result()
        self._pending = []

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _BufferedWriter:
    """One Parquet file written in row groups of about ``ROW_GROUP_ROWS`` rows."""

    def __init__(self, path: Path, schema: pa.Schema, queue: WriteQueue | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._queue = queue
        self._writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending)
            self._pending, self._pending_rows = [], 0
            if self._queue is None:
                self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            else:
                self._queue.submit(self._writer.write_table, table, ROW_GROUP_ROWS)

    def close(self) -> None:
        """Write what is buffered and close the file; it is complete when this returns."""
        self._flush()
        if self._queue is None:
            self._writer.close()
        else:  # queued after this file's writes; draining raises any write that failed
            self._queue.submit(self._writer.close)
            self._queue.drain()


class ParquetSink:
    """A single Parquet file; it always exists after :meth:`close`, with zero rows if need be."""

    def __init__(self, path: Path, schema: pa.Schema, queue: WriteQueue | None = None) -> None:
        self._writer = _BufferedWriter(path, schema, queue)

    @property
    def rows(self) -> int:
        return self._writer.rows

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write(batch)

    def close(self) -> None:
        self._writer.close()


class PartitionedSink:
    """Files ``<folder>/<column>=<value>/part.parquet``, one per distinct value of ``column``."""

    def __init__(self, folder: Path, schema: pa.Schema, column: str, queue: WriteQueue | None = None) -> None:
        self.folder, self.schema, self.column = folder, schema, column
        self._queue = queue
        self._writers: dict[str, _BufferedWriter] = {}
        self.rows_by_value: dict[str, int] = defaultdict(int)

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        keys = batch.column(self.column)
        values = pc.unique(keys).to_pylist()
        for value in values:
            part = batch.filter(pc.equal(keys, value)) if len(values) > 1 else batch
            name = value.isoformat() if hasattr(value, "isoformat") else str(value)
            writer = self._writers.get(name)
            if writer is None:
                path = self.folder / f"{self.column}={name}" / "part.parquet"
                writer = _BufferedWriter(path, self.schema, self._queue)
                self._writers[name] = writer
            writer.write(part)
            self.rows_by_value[name] += part.num_rows

    def close(self) -> dict[str, Path]:
        """Close every file; returns value -> file."""
        for writer in self._writers.values():
            writer.close()
        return {name: writer.path for name, writer in self._writers.items()}
