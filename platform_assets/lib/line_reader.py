"""Read a landed log file as Arrow batches of (line number, text), without a Python loop per line.

Lines are split with numpy on large chunks; Arrow validates UTF-8 and strips line endings for a
whole batch at once (C++), and the engine does all per-line parsing in SQL. A batch holding
invalid UTF-8 falls back to decoding row by row: those lines get ``text`` NULL and their bytes
``\\xNN``-escaped in ``undecodable``, so the parser can quarantine them. No line is dropped here.

Gzip is decoded with zlib directly, in small steps, so a damaged stream (cut, corrupt, followed
by garbage, or past the decompressed-size limit) keeps every byte that decodes before the damage
and says what and at which compressed byte it stopped. Memory is bounded by the chunk size and
the line-length cut, whatever the input.

Line counting convention (shared with :func:`file_facts`, which counts with its own loop): every
``\\n`` ends a line, and trailing bytes after the last ``\\n`` form one more line. ``""`` has 0
lines, ``"a\\nb"`` and ``"a\\nb\\n"`` 2.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import threading
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_CHUNK_BYTES = 16 << 20
# Longer lines are cut to this many bytes and flagged, so one runaway line cannot exhaust memory.
DEFAULT_MAX_LINE_BYTES = 4 << 20

# Decompressed-size limit for gzip: see decompressed_limit.
GZIP_MIN_LIMIT_BYTES = 1 << 30
GZIP_MAX_RATIO = 200
GZIP_MAX_LIMIT_BYTES = 64 << 30

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


def decompressed_limit(compressed_size: int) -> int:
    """How many decompressed bytes a gzip file of ``compressed_size`` bytes may yield.

    A gzip bomb (1 GiB of zeros packs into 1 MB) costs CPU time and rows, not memory (lines are cut
    at the line-length limit). Real logs compress about 10:1 (the Apache sample in
    ``/work/shared/data``: 2.37 MB to 238 KB), repetitive JSON rarely past 50:1. So a file may
    always expand to 1 GiB (a few seconds), and past that only to 200 times its compressed size
    (20 times a real log's ratio; deflate reaches 1032:1 only on degenerate input such as zeros),
    never past 64 GiB. It depends on the file's size only, so the reader and the independent
    counter stop at the same byte: 2 GiB of zeros in 2 MB stops at 1 GiB, a 1 GB log gzip at 10 GB
    is read whole.
    """
    return min(GZIP_MAX_LIMIT_BYTES, max(GZIP_MIN_LIMIT_BYTES, GZIP_MAX_RATIO * compressed_size))


def limit_error(limit: int, compressed_size: int) -> str:
    return (
        f"decompressed size limit exceeded: more than {limit} bytes from a {compressed_size}-byte "
        "gzip file; the rest is not read"
    )


READ_BLOCK_BYTES = 1 << 20
# Compressed bytes handed to zlib per call: small, so a fault costs at most a byte-wise replay of it.
GZIP_INPUT_BYTES = 64 << 10


@dataclass
class ReadReport:
    """What the reader saw; filled while batches are consumed."""

    lines: int = 0
    bytes_read: int = 0
    stream_error: str | None = None
    # sha256 of the landed bytes this read parsed (the whole file as opened, a damaged tail
    # included); set when the read ends, so a file replaced meanwhile is told by its hash.
    sha256: str | None = None


class Sha256Thread:
    """A sha256 computed on its own thread, over the blocks given to :meth:`update` in order.

    hashlib releases the GIL on large blocks, so hashing overlaps reading, counting and decoding
    instead of following them (the raw asset's facts: 0.48 s -> 0.28 s for a 450 MB file). Memory
    is bounded by the queue. :meth:`close` stops the thread when the reading is abandoned.
    """

    _DONE = b""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._blocks: queue.Queue[bytes] = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while block := self._blocks.get():
            self._digest.update(block)

    def update(self, block: bytes) -> None:
        """Add ``block`` (after every block given before it)."""
        if block:
            self._blocks.put(block)

    def close(self) -> None:
        """Let the thread finish what it holds and stop (idempotent)."""
        if self._thread.is_alive():
            self._blocks.put(self._DONE)
            self._thread.join()

    def hexdigest(self) -> str:
        """The digest of every block given; no block may follow."""
        self.close()
        return self._digest.hexdigest()


class _HashingFile:
    """A binary file whose bytes are added to a sha256 as they are read."""

    def __init__(self, raw) -> None:
        self._raw, self.digest = raw, Sha256Thread()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.digest.update(data)
        return data

    def fileno(self) -> int:
        return self._raw.fileno()

    def hexdigest_of_all(self) -> str:
        """The digest once the rest of the file (what decoding did not need) is read too."""
        while self.read(READ_BLOCK_BYTES):
            pass
        return self.digest.hexdigest()


def _replay(decoder, data: bytes) -> tuple[bytes, int]:
    """Feed ``data`` byte by byte to a copy of a decoder taken before the call that failed.

    Returns what decodes before the bad byte and that byte's index in ``data``; zlib discards the
    output of a call that fails, so this recovers everything up to the damage exactly.
    """
    out = []
    for i in range(len(data)):
        try:
            out.append(decoder.decompress(data[i : i + 1]))
        except zlib.error:
            return b"".join(out), i
    return b"".join(out), len(data)


def _gunzip_blocks(raw, report: ReadReport, limit: int, size: int, head: bytes) -> Iterator[bytes]:
    """Decompress every gzip member of ``raw`` in blocks of at most ``READ_BLOCK_BYTES``.

    Stops at the first fault, with ``report.stream_error`` saying what and at which compressed
    byte, after yielding every byte that decodes before it. Zero padding after a member is
    ignored, as gzip and Python's gzip module do.
    """
    offset = 0  # file offset of data[0]
    data = head  # compressed input not yet handed to zlib (``head``: the file's first bytes)
    decoder = None  # None between members
    produced = 0

    def emit(out: bytes) -> bytes:
        nonlocal produced
        if produced + len(out) > limit:
            out = out[: limit - produced]
            report.stream_error = limit_error(limit, size)
        produced += len(out)
        return out

    while True:
        if decoder is None:  # between members: skip zero padding, then expect a gzip header
            while True:
                kept = data.lstrip(b"\0")
                offset += len(data) - len(kept)
                data = kept
                if len(data) >= len(GZIP_MAGIC) or not (more := raw.read(GZIP_INPUT_BYTES)):
                    break
                data += more
            if not data:
                return
            if not data.startswith(GZIP_MAGIC):
                report.stream_error = f"trailing garbage after gzip member at byte {offset}"
                return
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        ended = not data and not (data := raw.read(GZIP_INPUT_BYTES))
        before = decoder.copy()
        try:
            out = decoder.decompress(data, READ_BLOCK_BYTES)
        except zlib.error as exc:
            out, bad = _replay(before, data)
            if out := emit(out):
                yield out
            if report.stream_error is None:
                report.stream_error = (
                    f"bad gzip data at compressed byte {offset + bad} "
                    f"(after {produced} decompressed bytes): {exc}"
                )
            return
        rest = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
        offset += len(data) - len(rest)
        data = rest
        if decoder.eof:
            decoder = None
        elif ended and not out:  # the file ended inside a member and zlib holds nothing more
            report.stream_error = (
                f"truncated gzip stream at compressed byte {offset} (after {produced} decompressed bytes)"
            )
            return
        if out := emit(out):
            yield out
        if report.stream_error:
            return


def iter_blocks(path: Path, report: ReadReport, max_decompressed_bytes: int | None = None) -> Iterator[bytes]:
    """Yield the file's (decompressed) bytes in blocks; a broken stream ends it with an error noted.

    Everything that decodes before a fault in a gzip stream is yielded (see
    :func:`_gunzip_blocks`); a gzip file stops at ``max_decompressed_bytes`` (default
    :func:`decompressed_limit` of its size) with an error saying so.
    """
    with open(path, "rb") as opened:
        raw = _HashingFile(opened)
        try:
            yield from _blocks(raw, report, max_decompressed_bytes)
        finally:  # abandoned or failed midway: the hashing thread stops too
            raw.digest.close()


def _blocks(raw: _HashingFile, report: ReadReport, max_decompressed_bytes: int | None) -> Iterator[bytes]:
    """:func:`iter_blocks` over an open, hashing file."""
    head = raw.read(len(GZIP_MAGIC))  # no seek back: the file may be a pipe
    if head != GZIP_MAGIC:
        first = head + raw.read(READ_BLOCK_BYTES - len(head))
        rest = iter(lambda: raw.read(READ_BLOCK_BYTES), b"")
        blocks = itertools.chain([first] if first else [], rest)
    else:
        size = os.fstat(raw.fileno()).st_size
        limit = decompressed_limit(size) if max_decompressed_bytes is None else max_decompressed_bytes
        blocks = _gunzip_blocks(raw, report, limit, size, head)
    for block in blocks:
        report.bytes_read += len(block)
        yield block
    report.sha256 = raw.hexdigest_of_all()


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


def _batch(
    start_line: int, buf: bytes, ends: np.ndarray, max_line: int, first_extra: int = 0
) -> pa.RecordBatch:
    """Build one batch from ``buf`` whose lines end (exclusive, newline included) at ``ends``.

    ``first_extra`` bytes of the first line were already dropped (an overlong line): they count
    in its ``line_bytes`` only.
    """
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1]
    lengths = ends - starts
    if first_extra or lengths.max(initial=0) > max_line:
        # Rare: copy the oversized lines out truncated; keep the others zero-copy.
        values = [
            buf[s : s + min(n, max_line)] for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)
        ]
        line_array = pa.array(values, type=pa.binary())
        lengths[0] += first_extra
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
    max_decompressed_bytes: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield batches of ``LINE_SCHEMA`` (text without its line ending).

    A truncated or corrupt gzip stream ends the file early: the bytes read so far are yielded (the
    last, partial line is a line like any other) and one extra row with ``stream_error`` set
    records where and why, so the loss is visible.

    Memory is bounded by ``chunk_bytes`` and ``max_line_bytes`` whatever the input: once an
    unfinished line passes ``max_line_bytes``, only its first ``max_line_bytes`` are kept and the
    rest is counted and dropped while its end is searched for.
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be positive")
    report = report if report is not None else ReadReport()
    carry = b""  # the start of an unfinished line
    dropped = 0  # bytes of that line after ``carry`` already dropped (an overlong line)
    skipping = False  # the overlong line's end is not found yet
    pending: list[bytes] = []
    pending_size = 0
    for block in iter_blocks(path, report, max_decompressed_bytes):
        if skipping:  # drop the overlong line up to its newline, keep the rest
            end = block.find(b"\n")
            if end < 0:
                dropped += len(block)
                continue
            dropped += end
            block = block[end:]
            skipping = False
        pending.append(block)
        pending_size += len(block)
        if pending_size < chunk_bytes:
            continue
        buf = carry + b"".join(pending)
        pending, pending_size = [], 0
        newlines = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10)
        if newlines.size == 0:
            carry = buf
        else:
            cut = int(newlines[-1]) + 1
            batch = _batch(report.lines, buf[:cut], newlines + 1, max_line_bytes, dropped)
            report.lines += batch.num_rows
            carry, dropped = buf[cut:], 0
            yield batch
        if len(carry) > max_line_bytes:
            dropped += len(carry) - max_line_bytes
            carry = carry[:max_line_bytes]
            skipping = True
    rest = carry + b"".join(pending)
    if rest:  # the lines that did not fill a whole chunk; the last may lack its newline
        ends = np.flatnonzero(np.frombuffer(rest, dtype=np.uint8) == 10) + 1
        if ends.size == 0 or ends[-1] != len(rest):
            ends = np.append(ends, len(rest))
        batch = _batch(report.lines, rest, ends, max_line_bytes, dropped)
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


def file_facts(path: Path, max_decompressed_bytes: int | None = None) -> FileFacts:
    """Hash the landed bytes and count lines (decompressing gzip) without parsing anything.

    Deliberately its own loop, sharing no decoding code with :func:`iter_line_batches`: the
    lake's ``lines_reconcile`` compares the two counts, so a reader that drops or repeats lines
    is caught. Same conventions: everything that decodes before a gzip fault counts, a gzip stops
    at the same decompressed-size limit, zero padding after a member is ignored.
    """
    digest = Sha256Thread()
    with open(path, "rb") as f, closing(digest):
        size = os.fstat(f.fileno()).st_size
        head = f.read(len(GZIP_MAGIC))  # no seek back: the file may be a pipe
        compressed = head == GZIP_MAGIC
        if compressed:
            limit = decompressed_limit(size) if max_decompressed_bytes is None else max_decompressed_bytes
            newlines, total, last, error = _count_gzip(f, head, digest, limit, size)
        else:
            newlines, total, last, error = 0, 0, b"", None
            chunk = head
            while chunk:
                digest.update(chunk)
                newlines += chunk.count(b"\n")
                total += len(chunk)
                last = chunk[-1:]
                chunk = f.read(READ_BLOCK_BYTES)
    return FileFacts(
        sha256=digest.hexdigest(),
        size_bytes=size,
        compressed=compressed,
        lines=newlines + (1 if total and last != b"\n" else 0),
        uncompressed_bytes=total,
        stream_error=error,
    )


def _count_gzip(f, head: bytes, digest, limit: int, size: int) -> tuple[int, int, bytes, str | None]:
    """Newlines, decompressed bytes, last byte and stream error of a gzip file; hashes every byte."""
    newlines = total = 0
    last = b""
    error: str | None = None
    pending = b""  # compressed bytes not consumed yet
    at = 0  # file offset of pending[0]
    inflate = None  # None between members

    def count(out: bytes) -> None:
        nonlocal newlines, total, last, error
        if total + len(out) > limit:
            out = out[: limit - total]
            error = limit_error(limit, size)
        if out:
            newlines += out.count(b"\n")
            total += len(out)
            last = out[-1:]

    def decode() -> None:
        """Decode what ``pending`` holds, member after member; stop at the first fault."""
        nonlocal pending, at, inflate, error
        while pending and not error:
            if inflate is None:
                stripped = pending.lstrip(b"\0")
                at, pending = at + len(pending) - len(stripped), stripped
                if len(pending) < len(GZIP_MAGIC):
                    return
                if not pending.startswith(GZIP_MAGIC):
                    error = f"trailing garbage after gzip member at byte {at}"
                    return
                inflate = zlib.decompressobj(wbits=31)
            saved = inflate.copy()
            try:
                count(inflate.decompress(pending))
            except zlib.error as exc:
                for i in range(len(pending)):  # what decodes before the bad byte still counts
                    try:
                        count(saved.decompress(pending[i : i + 1]))
                    except zlib.error:
                        break
                error = error or (
                    f"bad gzip data at compressed byte {at + i} (after {total} decompressed bytes): {exc}"
                )
                return
            if inflate.eof:
                at += len(pending) - len(inflate.unused_data)
                pending, inflate = inflate.unused_data, None
            else:
                at, pending = at + len(pending), b""

    chunk = head
    while chunk:
        digest.update(chunk)
        if not error:  # after an error the rest is hashed, not decoded
            pending += chunk
            decode()
        chunk = f.read(8 << 10)
    if not error:
        if inflate is not None:
            count(inflate.flush())
            error = (
                error or f"truncated gzip stream at compressed byte {at} (after {total} decompressed bytes)"
            )
        elif pending:  # one odd byte after the last member
            error = f"trailing garbage after gzip member at byte {at}"
    return newlines, total, last, error
