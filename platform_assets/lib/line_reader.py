"""Read a landed log file as Arrow batches of (line number, text), without a Python loop per line.

Lines are split with numpy on large chunks; Arrow validates UTF-8 and strips line endings for a
whole batch at once (C++), and the engine does all per-line parsing in SQL. A batch holding
invalid UTF-8 falls back to decoding row by row: those lines get ``text`` NULL and their bytes
``\\xNN``-escaped in ``undecodable``, so the parser can quarantine them. No line is dropped here.

Line counting convention (shared with :func:`count_lines`): every ``\\n`` ends a line, and trailing
bytes after the last ``\\n`` form one more line. ``""`` has 0 lines, ``"a\\nb"`` and ``"a\\nb\\n"`` 2.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_CHUNK_BYTES = 16 << 20
# Longer lines are cut to this many bytes and flagged, so one runaway line cannot exhaust memory.
DEFAULT_MAX_LINE_BYTES = 4 << 20

LINE_SCHEMA = pa.schema(
    [
        pa.field("source_line", pa.int64(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("undecodable", pa.string()),
        pa.field("line_bytes", pa.int64(), nullable=False),
        pa.field("stream_error", pa.string()),
    ]
)


def is_gzip(path: Path) -> bool:
    """Decide compression from the content, not the name."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_log(path: Path):
    """Open a log file for binary reading, decompressing gzip transparently."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


READ_BLOCK_BYTES = 1 << 20


@dataclass
class ReadReport:
    """What the reader saw; filled while batches are consumed."""

    lines: int = 0
    bytes_read: int = 0
    stream_error: str | None = None


class _HashingReader(io.RawIOBase):
    """Hands a file's bytes through unchanged, adding each one to ``digest`` on the way."""

    def __init__(self, raw, digest) -> None:
        self._raw, self._digest = raw, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self._digest.update(memoryview(buffer)[:n])
        return n


def iter_blocks(path: Path, report: ReadReport, digest=None) -> Iterator[bytes]:
    """Yield the file's (decompressed) bytes in blocks; a broken stream ends it with an error noted.

    Small blocks bound what a corrupt gzip member can take with it: everything decoded before the
    fault is yielded, and :func:`file_facts` sees exactly the same bytes. With ``digest`` (a
    hashlib object), the landed bytes are hashed in the same pass, up to the file's last byte.
    """
    compressed = is_gzip(path)
    with open(path, "rb") as raw:
        source = io.BufferedReader(_HashingReader(raw, digest), READ_BLOCK_BYTES) if digest else raw
        f = gzip.GzipFile(fileobj=source, mode="rb") if compressed else source
        try:
            while True:
                try:
                    block = f.read(READ_BLOCK_BYTES)
                except (EOFError, OSError, zlib.error) as exc:
                    report.stream_error = f"{type(exc).__name__}: {exc}"
                    return
                if not block:
                    return
                report.bytes_read += len(block)
                yield block
        finally:
            if digest is not None:  # what decompression did not need (a damaged tail) is hashed too
                while source.read(READ_BLOCK_BYTES):
                    pass


def _decode(lines: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Binary lines -> (text without line ending, escaped bytes of the lines that are not UTF-8)."""
    try:
        text = lines.cast(pa.string())  # validates the whole batch in one pass
        undecodable = pa.nulls(len(lines), pa.string())
    except pa.ArrowInvalid:  # rare: some line is not UTF-8, decode this batch row by row
        decoded: list[str | None] = []
        escaped: list[str | None] = []
        for value in lines.to_pylist():
            try:
                decoded.append(value.decode("utf-8"))
                escaped.append(None)
            except UnicodeDecodeError:
                decoded.append(None)
                escaped.append(value.decode("utf-8", "backslashreplace"))
        text, undecodable = pa.array(decoded, pa.string()), pa.array(escaped, pa.string())
    return pc.utf8_rtrim(text, characters="\r\n"), pc.utf8_rtrim(undecodable, characters="\r\n")


def _batch(start_line: int, buf: bytes, ends: np.ndarray, max_line: int) -> pa.RecordBatch:
    """Build one batch from ``buf`` whose lines end (exclusive, newline included) at ``ends``."""
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1]
    lengths = ends - starts
    if lengths.max(initial=0) > max_line:
        # Rare: copy the oversized lines out truncated; keep the others zero-copy.
        values = [
            buf[s : s + min(n, max_line)] for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)
        ]
        line_array = pa.array(values, type=pa.binary())
    else:
        offsets = pa.py_buffer(np.concatenate(([0], ends)).astype(np.int32).tobytes())
        line_array = pa.Array.from_buffers(pa.binary(), len(ends), [None, offsets, pa.py_buffer(buf)])
    n = len(ends)
    text, undecodable = _decode(line_array)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.arange(start_line + 1, start_line + n + 1, dtype=np.int64)),
            text,
            undecodable,
            pa.array(lengths.astype(np.int64)),
            pa.nulls(n, pa.string()),
        ],
        schema=LINE_SCHEMA,
    )


def iter_line_batches(
    path: Path,
    report: ReadReport | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[pa.RecordBatch]:
    """Yield batches of ``LINE_SCHEMA`` (text without its line ending).

    A truncated or corrupt gzip stream ends the file early: the bytes read so far are yielded and
    one extra row with ``stream_error`` set records where and why, so the loss is visible.
    """
    report = report if report is not None else ReadReport()
    carry = b""
    pending: list[bytes] = []
    pending_size = 0
    for block in iter_blocks(path, report):
        pending.append(block)
        pending_size += len(block)
        if pending_size < chunk_bytes:
            continue
        buf = carry + b"".join(pending)
        pending, pending_size = [], 0
        newlines = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10)
        if newlines.size == 0:
            carry = buf
            continue
        cut = int(newlines[-1]) + 1
        batch = _batch(report.lines, buf[:cut], newlines + 1, max_line_bytes)
        report.lines += batch.num_rows
        carry = buf[cut:]
        yield batch
    rest = carry + b"".join(pending)
    if rest:  # the lines that did not fill a whole chunk; the last may lack its newline
        ends = np.flatnonzero(np.frombuffer(rest, dtype=np.uint8) == 10) + 1
        if ends.size == 0 or ends[-1] != len(rest):
            ends = np.append(ends, len(rest))
        batch = _batch(report.lines, rest, ends, max_line_bytes)
        report.lines += batch.num_rows
        yield batch
    if report.stream_error:
        # A marker row, numbered after the last line read; not an input line of the file.
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([report.lines + 1], pa.int64()),
                pa.array([""], pa.string()),
                pa.nulls(1, pa.string()),
                pa.array([0], pa.int64()),
                pa.array([report.stream_error], pa.string()),
            ],
            schema=LINE_SCHEMA,
        )


def line_reader(
    path: Path, report: ReadReport | None = None, prefetch: int = 4, **kwargs
) -> pa.RecordBatchReader:
    """The batches of :func:`iter_line_batches` as a reader DuckDB or Arrow can scan.

    A background thread reads and splits up to ``prefetch`` batches ahead (numpy and Arrow release
    the GIL), so the file's I/O and splitting overlap with the engine's parsing. Errors in the
    thread are raised in the consumer; a consumer that stops early releases the thread.
    """
    if prefetch <= 0:
        return pa.RecordBatchReader.from_batches(LINE_SCHEMA, iter_line_batches(path, report, **kwargs))
    batches: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in iter_line_batches(path, report, **kwargs):
                while not stop.is_set():
                    try:
                        batches.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            batches.put(_END)
        except BaseException as error:  # handed to the consumer
            batches.put(error)

    def consume() -> Iterator[pa.RecordBatch]:
        try:
            while (item := batches.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    threading.Thread(target=produce, name=f"read {path.name}", daemon=True).start()
    return pa.RecordBatchReader.from_batches(LINE_SCHEMA, consume())


_END = object()


@dataclass(frozen=True)
class FileFacts:
    """Independent facts about a landed file, computed in one streaming pass."""

    sha256: str
    size_bytes: int
    compressed: bool
    lines: int
    uncompressed_bytes: int
    stream_error: str | None


def file_facts(path: Path) -> FileFacts:
    """Hash the landed bytes and count lines (decompressing gzip) without parsing anything."""
    digest = hashlib.sha256()
    report = ReadReport()
    lines, last = 0, b"\n"
    for block in iter_blocks(path, report, digest):  # one read: hash and count together
        lines += block.count(b"\n")
        last = block[-1:]
    if last != b"\n":
        lines += 1
    return FileFacts(
        sha256=digest.hexdigest(),
        size_bytes=path.stat().st_size,
        compressed=is_gzip(path),
        lines=lines,
        uncompressed_bytes=report.bytes_read,
        stream_error=report.stream_error,
    )
