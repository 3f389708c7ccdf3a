"""The lake ingest's fast path for clean JSON-lines files: DuckDB's own parallel JSON reader.

The validating path (``lake/parse_lines`` over numbered lines from one reader thread) checks every
line with ``json_valid`` + ``from_json``. Most files are plain JSON-object lines with no bad line;
for them ``read_json`` (vectorised, both cores, one parse per line) yields the same event fields,
and the rest of ``lake/parse_lines`` (from its ``fields`` step on) derives the same columns.

Exactness rests on three checks, any failure of which declines the file
(:class:`FastPathDeclined`; the caller then runs the validating path from scratch):

- every line is plain (:mod:`platform_assets.lib.plain_json_lines`), checked on a thread beside
  the query over the validating path's own line reader (same numbering, same gzip decoding, a
  damaged stream declines): each line is then classified as JSON by the validating path;
- ``read_json`` fails on any line ``json_valid`` refuses (and on duplicate keys, which
  ``from_json`` accepts), so a finished query means every line parsed, one row per line;
- the rows are as many as the lines, and no row is rejected by a value rule (a rejected line's
  quarantine row carries its raw text, which only the validating path has).

Line numbers: DuckDB returns a query's rows in the order of the file (insertion order is
preserved), so the n-th row is line n.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from platform_assets.lib import line_reader
from platform_assets.lib.layout import sql_string
from platform_assets.lib.line_reader import ReadReport, is_gzip
from platform_assets.lib.log_formats import CLF_FIELDS, JSON_EVENT_FIELDS, REQUEST_FIELDS
from platform_assets.lib.plain_json_lines import MAX_PLAIN_LINE_BYTES, plain_batch
from platform_assets.sql import load

_FIELDS_STEP = "\nfields AS ("
_GLOB_CHARS = set("*?[]{}")


class FastPathDeclined(Exception):
    """The file is not one the fast path parses exactly; nothing it wrote may be kept."""


def _null_struct(names: tuple[str, ...]) -> str:
    return "CAST(NULL AS STRUCT(" + ", ".join(f'"{n}" VARCHAR' for n in names) + "))"


def fast_parse_sql(path: str, source_file: str, gzip: bool) -> str:
    """``lake/parse_lines`` with its per-line classification and JSON parse replaced by
    ``read_json``: same columns and types, ``source_line`` NULL (numbered by the caller)."""
    sql = load("lake/parse_lines").sql
    if sql.count(_FIELDS_STEP) != 1:
        raise RuntimeError("lake/parse_lines has no single 'fields' step for the fast path to start at")
    rest = sql[sql.index(_FIELDS_STEP) + 1 :]
    columns = "{" + ", ".join(f"{sql_string(n)}: 'VARCHAR'" for n in JSON_EVENT_FIELDS) + "}"
    struct = ", ".join(f'"{n}" := "{n}"' for n in JSON_EVENT_FIELDS)
    reader = (
        f"read_json({sql_string(path)}, format = 'newline_delimited', records = true, "
        f"columns = {columns}, compression = {sql_string('gzip' if gzip else 'none')}, "
        f"maximum_object_size = {2 * MAX_PLAIN_LINE_BYTES}, ignore_errors = false)"
    )
    return (
        "WITH request_lines AS (\n    SELECT "
        f"{sql_string(source_file)} AS source_file, CAST(NULL AS BIGINT) AS source_line, "
        "CAST(0 AS BIGINT) AS line_bytes, CAST(NULL AS VARCHAR) AS stream_error, "
        "CAST(NULL AS VARCHAR) AS undecodable, CAST(NULL AS VARCHAR) AS text, 'jsonl' AS kind, "
        f"struct_pack({struct}) AS j, {_null_struct(CLF_FIELDS)} AS a, "
        f"{_null_struct(REQUEST_FIELDS)} AS r\n    FROM {reader}\n),\n{rest}"
    )


def fast_path_applies(path: Path) -> bool:
    """Files the fast path may try: ``read_json`` must read exactly this file (no glob), and its
    first byte (decompressed) opens a JSON object, so access logs do not pay for a try."""
    if _GLOB_CHARS & set(str(path)):
        return False
    with open(path, "rb") as f:
        head = f.read(64 << 10)
    if head.startswith(line_reader.GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 1)
        except zlib.error:
            return False
    return head.startswith(b"{")


class _PlainCheck(threading.Thread):
    """Reads the file with the validating path's own reader (numbering its lines, hashing it
    into ``report``) and checks that every line is plain, beside the query; ``failed`` is set as
    soon as one is not."""

    def __init__(self, path: Path, report: ReadReport) -> None:
        super().__init__(name=f"check {path.name}", daemon=True)
        self.path, self.report = path, report
        self.failed, self.stop = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.lines = 0  # lines of the batches received, counted apart from the reader's own count

    def run(self) -> None:
        try:
            for batch in line_reader.iter_line_batches(self.path, self.report):
                if self.stop.is_set() or not plain_batch(batch):
                    self.failed.set()
                    return
                self.lines += batch.num_rows
            if self.report.stream_error:
                self.failed.set()
        except BaseException as error:  # handed to the consumer
            self.error = error
            self.failed.set()


def fast_parsed_batches(
    con: duckdb.DuckDBPyConnection, path: Path, source_file: str, report: ReadReport, batch_rows: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The rows ``lake/parse_lines`` would give for ``path``, numbered, with ``report`` filled
    (lines, bytes, sha256) when the iterator ends; raises :class:`FastPathDeclined` instead
    (while iterating) when the file is not one this path parses exactly."""
    try:
        parsed = con.sql(fast_parse_sql(str(path), source_file, is_gzip(path))).to_arrow_reader(batch_rows)
    except duckdb.Error as error:
        raise FastPathDeclined(str(error)) from error
    line_index = parsed.schema.get_field_index("source_line")
    reject_index = parsed.schema.get_field_index("reject_reason")
    check = _PlainCheck(path, report)

    def batches() -> Iterator[pa.RecordBatch]:
        check.start()
        rows, finished = 0, False
        try:
            for batch in parsed:
                if check.failed.is_set():
                    raise FastPathDeclined("a line is not a plain JSON-object line")
                if batch.column(reject_index).null_count != batch.num_rows:
                    raise FastPathDeclined("a line is rejected by a value rule")
                numbers = pa.array(np.arange(rows + 1, rows + batch.num_rows + 1, dtype=np.int64))
                rows += batch.num_rows
                yield batch.set_column(line_index, parsed.schema.field(line_index), numbers)
            finished = True
        # read_json refused a line (raised through Arrow's stream as an Arrow error or OSError):
        # the validating path says why; a real I/O fault fails that path in turn
        except (duckdb.Error, pa.ArrowException, OSError) as error:
            raise FastPathDeclined(str(error)) from error
        finally:
            if not finished:  # declined or abandoned: the check need not read on
                check.stop.set()
            check.join()
        if check.error is not None:
            raise check.error
        if check.failed.is_set():
            raise FastPathDeclined("a line is not a plain JSON-object line")
        if not rows == check.lines == report.lines or rows == 0:
            raise FastPathDeclined(f"{rows} rows for {check.lines} lines ({report.lines} read)")

    return parsed.schema, batches()
