"""Damaged, hostile and changing input: the readable part is kept, the damage is quarantined with
its byte offset, memory stays bounded, and the lake's line reconciliation cannot be fooled.

Expected counts come from the source lines the test wrote (a gzip built with a full flush after
every line, so the compressed offset where each line becomes complete is known) or from ``gzip -dc``,
never from the reader under test.
"""

import gzip
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib import line_reader
from platform_assets.lib.layout import file_id
from platform_assets.lib.line_reader import ReadReport, file_facts, iter_line_batches
from platform_assets_tests.checks_support import evaluations, ingest, jsonl_event, values

RECONCILE = "lake/events:lines_reconcile"


def _source(n: int) -> list[bytes]:
    """``n`` JSON-lines events of one day, each with its newline."""
    return [
        (
            jsonl_event(
                f"2026-03-02T{i // 3600 % 24:02}:{i // 60 % 60:02}:{i % 60:02}Z", ip=f"192.0.2.{i % 250}"
            )
            + "\n"
        ).encode()
        for i in range(n)
    ]


def _flushed_gzip(lines: list[bytes]) -> tuple[bytes, list[int]]:
    """One gzip member with a full flush after each line; ``ends[k]`` is the compressed size at
    which lines ``0..k`` are complete (and the next deflate block starts on a byte boundary)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out, ends = [], []
    size = 0
    for line in lines:
        for piece in (packer.compress(line), packer.flush(zlib.Z_FULL_FLUSH)):
            out.append(piece)
            size += len(piece)
        ends.append(size)
    out.append(packer.flush())
    return b"".join(out), ends


def _count(data: bytes) -> int:
    """The line convention, counted by hand: every newline ends a line, a tail is one more."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _zcat(path: Path) -> bytes:
    """What gzip(1) decompresses (it exits non-zero on trailing garbage but prints the data)."""
    return subprocess.run(["gzip", "-dc"], stdin=path.open("rb"), capture_output=True).stdout


def _python_gunzip(path: Path) -> bytes:
    """What Python's gzip module decodes of a cut file (small reads: nothing decoded is dropped)."""
    out = []
    with gzip.GzipFile(fileobj=path.open("rb")) as f:
        try:
            while block := f.read1(1 << 16):
                out.append(block)
        except EOFError:
            pass
    return b"".join(out)


def _rows(path: Path, **kwargs) -> tuple[list[dict], ReadReport]:
    report = ReadReport()
    rows = [r for b in iter_line_batches(path, report, **kwargs) for r in b.to_pylist()]
    return rows, report


def _texts(rows: list[dict]) -> list[str]:
    return [r["text"] for r in rows if r["stream_error"] is None]


def _plain(lines: list[bytes]) -> list[str]:
    return [line.decode().rstrip("\n") for line in lines]


def test_a_gzip_cut_at_60_percent_keeps_every_complete_line_before_the_cut(tmp_path):
    lines = _source(3_000)
    packed, ends = _flushed_gzip(lines)
    cut = int(len(packed) * 0.6)
    complete = sum(1 for e in ends if e <= cut)  # from the writer's own offsets
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[:cut])

    rows, report = _rows(path)
    texts = _texts(rows)
    assert texts[:complete] == _plain(lines[:complete])
    # What decodes of the next line before the cut is kept too, as one (partial) line.
    assert len(texts) in (complete, complete + 1)
    if len(texts) > complete:
        assert (
            lines[complete].decode().startswith(texts[complete])
            and texts[complete] != _plain(lines)[complete]
        )
    assert report.lines == len(texts) == file_facts(path).lines == _count(_python_gunzip(path))
    assert re.fullmatch(
        rf"truncated gzip stream at compressed byte {cut} \(after \d+ decompressed bytes\)",
        report.stream_error,
    )
    assert rows[-1]["stream_error"] == report.stream_error and rows[-1]["source_line"] == len(texts) + 1


def test_a_gzip_cut_on_a_line_boundary_keeps_exactly_the_lines_before_it(tmp_path):
    lines = _source(3_000)
    packed, ends = _flushed_gzip(lines)
    k = 1_800
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: ends[k - 1]])
    rows, report = _rows(path)
    assert _texts(rows) == _plain(lines[:k])
    assert report.stream_error == (
        f"truncated gzip stream at compressed byte {ends[k - 1]} "
        f"(after {len(b''.join(lines[:k]))} decompressed bytes)"
    )
    assert file_facts(path).lines == k


def test_bad_deflate_data_keeps_every_line_before_it_and_names_its_byte(tmp_path):
    lines = _source(3_000)
    packed, ends = _flushed_gzip(lines)
    k = 1_234
    damaged = bytearray(packed)
    damaged[ends[k - 1]] = 0b110  # a deflate block header of the reserved (invalid) type 3
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(damaged))
    rows, report = _rows(path)
    assert _texts(rows) == _plain(lines[:k])
    before = len(b"".join(lines[:k]))
    assert report.stream_error.startswith(
        f"bad gzip data at compressed byte {ends[k - 1]} (after {before} decompressed bytes): "
    )
    assert file_facts(path).lines == k


def test_a_gzip_followed_by_garbage_keeps_all_its_lines(tmp_path):
    lines = _source(3_000)
    packed = gzip.compress(b"".join(lines))
    path = tmp_path / "tail.gz"
    path.write_bytes(packed + b"this is not gzip\n" * 20)
    rows, report = _rows(path)
    assert _texts(rows) == _plain(lines)
    assert report.stream_error == f"trailing garbage after gzip member at byte {len(packed)}"
    assert file_facts(path).lines == 3_000 == _count(_zcat(path))


def test_multi_member_gzip_joins_a_line_split_across_members_and_ignores_zero_padding(tmp_path):
    data = b"".join(_source(2_000))
    middle = len(data) // 2 + 7  # inside a line
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(data[:middle]) + gzip.compress(data[middle:]) + b"\0" * 100)
    rows, report = _rows(path)
    assert _texts(rows) == _plain(_source(2_000))
    assert report.stream_error is None
    assert file_facts(path).lines == 2_000 == _count(_zcat(path))


def test_a_gzip_of_a_gzip_is_decoded_once_and_its_binary_lines_quarantined(tmp_path, engine):
    inner = gzip.compress(b"".join(_source(500)))
    path = tmp_path / "double.jsonl.gz"
    path.write_bytes(gzip.compress(inner))
    result = engine.ingest_log_file(str(path), path.name, file_id(path.name))
    assert result.stream_error is None
    assert (result.events, result.quarantined, result.lines) == (0, _count(inner), _count(inner))
    assert not any(reason.startswith("corrupt") for reason in result.reasons)


def test_the_engine_keeps_the_readable_part_of_a_cut_gzip_and_quarantines_the_cut(tmp_path, engine):
    lines = _source(3_000)
    packed, ends = _flushed_gzip(lines)
    cut = int(len(packed) * 0.6)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[:cut])
    complete = sum(1 for e in ends if e <= cut)
    decoded = _python_gunzip(path)
    assert b"".join(lines).startswith(decoded) and _count(decoded) in (complete, complete + 1)

    result = engine.ingest_log_file(str(path), path.name, file_id(path.name))
    assert result.events == complete  # every complete line is a valid event, the partial one is not
    assert result.events + result.quarantined == result.lines == _count(decoded) == file_facts(path).lines
    marker = [r for r in result.reasons if r.startswith("corrupt compressed stream: ")]
    assert marker and re.search(rf"truncated gzip stream at compressed byte {cut}\b", marker[0])
    assert result.reasons[marker[0]] == 1


def test_the_decompressed_size_limit_stops_a_bomb_and_keeps_what_came_before(tmp_path, engine, monkeypatch):
    data = b"".join(_source(20_000))  # about 3 MB
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    limit = 1_000_003
    rows, report = _rows(path, max_decompressed_bytes=limit)
    assert len(_texts(rows)) == _count(data[:limit]) == file_facts(path, max_decompressed_bytes=limit).lines
    assert report.stream_error.startswith(f"decompressed size limit exceeded: more than {limit} bytes")
    assert report.bytes_read == limit

    # Through the engine, with the module's default limit made small.
    monkeypatch.setattr(line_reader, "GZIP_MIN_LIMIT_BYTES", limit)
    monkeypatch.setattr(line_reader, "GZIP_MAX_RATIO", 1)
    result = engine.ingest_log_file(str(path), path.name, file_id(path.name))
    assert result.lines == _count(data[:limit]) == file_facts(path).lines
    assert result.events + result.quarantined == result.lines
    assert [r for r in result.reasons if "decompressed size limit exceeded" in r]


def test_the_limit_allows_real_ratios_and_stops_degenerate_ones():
    assert line_reader.decompressed_limit(1_000_000) == 1 << 30  # a 1 MB file may expand to 1 GiB
    assert line_reader.decompressed_limit(50_000_000) == 200 * 50_000_000  # 10 GB: 200:1
    assert line_reader.decompressed_limit(1 << 40) == 64 << 30


# Peak RSS of the reading process: VmHWM, which exec resets (ru_maxrss of a child keeps the high
# water mark of the forked pytest process it replaced).
_PEAK = textwrap.dedent(
    """
    import json, re, sys
    from pathlib import Path
    from platform_assets.lib.line_reader import iter_line_batches
    lengths = [n for b in iter_line_batches(Path(sys.argv[1])) for n in b.column("line_bytes").to_pylist()]
    status = Path("/proc/self/status").read_text()
    print(json.dumps([lengths, int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024]))
    """
)


def _peak_mb(path: Path) -> tuple[list[int], int]:
    """Line lengths and peak RSS (MB) of reading ``path`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True)
    lengths, peak = json.loads(out.stdout)
    return lengths, peak


@pytest.fixture(scope="module")
def zeros_bomb(tmp_path_factory) -> Path:
    """1 GiB of zeros and no newline in one gzip member of about 1 MB.

    Built in a second, not 15: with a full flush after each 1 MiB of zeros every piece after the
    first compresses to the same bytes, so one piece is repeated and the trailer (CRC-32 and
    size, which zlib verifies on reading) is computed for the whole.
    """
    block, pieces = bytes(1 << 20), 1 << 10
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first, second, third = (packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH) for _ in range(3))
    assert second == third
    crc = 0
    for _ in range(pieces):
        crc = zlib.crc32(block, crc)
    end = packer.flush()[:-8]  # the final empty block, without the trailer of the 3 MiB packed
    path = tmp_path_factory.mktemp("bomb") / "zeros.gz"
    trailer = struct.pack("<II", crc, (pieces << 20) & 0xFFFFFFFF)
    path.write_bytes(first + second * (pieces - 1) + end + trailer)
    return path


def test_a_gigabyte_line_from_a_megabyte_gzip_stays_in_bounded_memory(zeros_bomb):
    lengths, peak = _peak_mb(zeros_bomb)
    print(f"1 GiB single-line gzip ({zeros_bomb.stat().st_size} bytes): peak RSS {peak} MB")
    assert lengths == [1 << 30]  # the whole line is accounted for, and no stream error row
    assert peak < 300


def test_a_100_mb_line_stays_in_bounded_memory(tmp_path):
    path = tmp_path / "long.log"
    with path.open("wb") as f:
        f.write(b"short\n")
        for _ in range(100):
            f.write(b"x" * (1 << 20))
        f.write(b"\nlast\n")
    lengths, peak = _peak_mb(path)
    print(f"100 MiB single line: peak RSS {peak} MB")
    assert lengths == [6, (100 << 20) + 1, 5]
    assert peak < 300


def test_a_file_that_grows_during_an_ingest_fails_reconcile_saying_so(defs, layout, monkeypatch):
    (layout.landing / "growing.jsonl").write_bytes(b"".join(_source(100)))
    real = DuckDBEngine.ingest_log_file

    def grows_before_reading(self, path, *args):
        with open(path, "ab") as f:  # after the raw count and its check, before the lake reads
            f.write(b"".join(_source(50)))
        return real(self, path, *args)

    monkeypatch.setattr(DuckDBEngine, "ingest_log_file", grows_before_reading)
    with dg.instance_for_test() as instance:
        result = ingest(defs, instance, "growing.jsonl")
    check = evaluations(result)[RECONCILE]
    assert not check.passed
    assert check.description.startswith("file changed since it was counted: 100 lines counted, 150 read")
    assert check.description.endswith("land new content under a new name")
    assert (values(check)["unaccounted"], values(check)["file_changed"]) == (0, True)


def test_a_file_replaced_by_as_many_lines_fails_reconcile_by_its_hash(defs, layout, monkeypatch):
    """Same line count, other bytes (renamed over the landed name after the raw count): the lake
    parsed bytes that were never counted, and its sha256 says so."""
    landed = layout.landing / "replaced.jsonl"
    landed.write_bytes(b"".join(_source(100)))
    counted = hashlib.sha256(landed.read_bytes()).hexdigest()
    real = DuckDBEngine.ingest_log_file

    def replaced_before_reading(self, path, *args):
        other = layout.landing / ".replacement.tmp"
        other.write_bytes(b"".join(_source(100)).replace(b'"status": 200', b'"status": 404'))
        os.replace(other, path)
        return real(self, path, *args)

    monkeypatch.setattr(DuckDBEngine, "ingest_log_file", replaced_before_reading)
    with dg.instance_for_test() as instance:
        result = ingest(defs, instance, "replaced.jsonl")
    check = evaluations(result)[RECONCILE]
    assert not check.passed
    assert values(check)["lines_read"] == values(check)["raw_lines"] == 100
    assert values(check)["file_changed"] is True
    assert f"sha256 {counted[:16]}" in check.description


@pytest.mark.parametrize("stage", ["iter_blocks", "iter_line_batches"])
def test_a_reader_that_drops_data_fails_reconcile(defs, layout, monkeypatch, stage):
    """Dropping a decoded block or a line batch is caught: the raw count shares no code with either."""
    lines = _source(10_000)  # 1.8 MB: more than one 1 MiB read block, so several blocks and batches
    (layout.landing / "dropped.jsonl").write_bytes(b"".join(lines))
    real = getattr(line_reader, stage)

    def drops_the_second(path, report=None, *args, **kwargs):
        if stage == "iter_line_batches":
            kwargs["chunk_bytes"] = 64 << 10
        for i, item in enumerate(real(path, report, *args, **kwargs)):
            if i != 1:
                yield item

    monkeypatch.setattr(line_reader, stage, drops_the_second)
    with dg.instance_for_test() as instance:
        result = ingest(defs, instance, "dropped.jsonl")
    check = evaluations(result)[RECONCILE]
    assert not check.passed
    metadata = values(check)
    assert metadata["raw_lines"] == 10_000
    assert 0 < metadata["unaccounted"] == 10_000 - metadata["events"] - metadata["quarantined"]
    assert check.description.startswith(f"{metadata['unaccounted']} lines of dropped.jsonl are neither")


def test_reconcile_names_extra_lines_of_an_unchanged_file_and_never_a_negative_count(tmp_path):
    from platform_assets.engines.base import IngestResult
    from platform_assets.layers.lake.assets import lines_reconcile

    path = tmp_path / "k.jsonl"
    path.write_bytes(b"".join(_source(10)))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    counted_twice = IngestResult(12, {"2026-03-02": 12}, 0, {}, None, [], [])
    check = lines_reconcile("k.jsonl", path, 10, sha, counted_twice)
    assert not check.passed
    assert check.description == (
        "2 more events and quarantined lines than the 10 lines counted in k.jsonl: "
        "some lines were counted twice"
    )
    metadata = values(check)
    assert (metadata["unaccounted"], metadata["extra"], metadata["file_changed"]) == (0, 2, False)

    path.unlink()  # gone since it was counted
    check = lines_reconcile("k.jsonl", path, 10, sha, counted_twice)
    assert not check.passed and check.description.startswith("file changed since it was counted: 10 lines")
