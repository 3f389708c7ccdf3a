"""Streaming Parquet writers for the engine: rows arrive in Arrow batches, files leave whole.

:class:`PartitionedSink` keeps one writer per value of a partition column (a day), buffers rows to
full row groups, and closes everything into a staging folder; publishing (renaming into the lake)
is the caller's step, so a run killed midway leaves nothing visible.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 122_880
COMPRESSION = "zstd"


class _BufferedWriter:
    """One Parquet file written in row groups of about ``ROW_GROUP_ROWS`` rows."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
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
            self._writer.write_table(pa.Table.from_batches(self._pending), row_group_size=ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class ParquetSink:
    """A single Parquet file; it always exists after :meth:`close`, with zero rows if need be."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = _BufferedWriter(path, schema)

    @property
    def rows(self) -> int:
        return self._writer.rows

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write(batch)

    def close(self) -> None:
        self._writer.close()


class PartitionedSink:
    """Files ``<folder>/<column>=<value>/part.parquet``, one per distinct value of ``column``."""

    def __init__(self, folder: Path, schema: pa.Schema, column: str) -> None:
        self.folder, self.schema, self.column = folder, schema, column
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
                writer = _BufferedWriter(self.folder / f"{self.column}={name}" / "part.parquet", self.schema)
                self._writers[name] = writer
            writer.write(part)
            self.rows_by_value[name] += part.num_rows

    def close(self) -> dict[str, Path]:
        """Close every file; returns value -> file."""
        for writer in self._writers.values():
            writer.close()
        return {name: writer.path for name, writer in self._writers.items()}
