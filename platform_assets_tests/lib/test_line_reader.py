"""The line reader and the independent line counter agree on every edge of the line convention."""

import gzip
import hashlib
import subprocess
import threading
import zlib

import pytest

from platform_assets.lib.line_reader import ReadReport, Sha256Thread, file_facts, iter_line_batches

# data -> [(text, undecodable)] per line
CASES = {
    "empty": (b"", []),
    "one newline": (b"\n", [("", None)]),
    "no final newline": (b"x\ny", [("x", None), ("y", None)]),
    "final newline": (b"x\ny\n", [("x", None), ("y", None)]),
    "crlf and blank": (b"a\r\nbb\n\nccc", [("a", None), ("bb", None), ("", None), ("ccc", None)]),
    "binary": (
        b"ok\n\xff\x00\xfe\n\xc3\xa9t\xc3\xa9",
        [("ok", None), (None, "\\xff\x00\\xfe"), ("\u00e9t\u00e9", None)],
    ),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_lines_and_numbers_match_a_hand_split(tmp_path, name, chunk):
    data, expected = CASES[name]
    path = tmp_path / "f"
    path.write_bytes(data)
    report = ReadReport()
    rows = [r for b in iter_line_batches(path, report, chunk_bytes=chunk) for r in b.to_pylist()]
    assert [(r["text"], r["undecodable"]) for r in rows] == expected
    assert [r["source_line"] for r in rows] == list(range(1, len(expected) + 1))
    assert report.lines == file_facts(path).lines == len(expected)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    data = b"".join(b"line %d\n" % i for i in range(50_000))
    (tmp_path / "plain.gz").write_bytes(data)
    (tmp_path / "packed.log").write_bytes(gzip.compress(data))
    for name in ("plain.gz", "packed.log"):
        facts = file_facts(tmp_path / name)
        assert facts.lines == 50_000
        assert facts.uncompressed_bytes == len(data)
        assert facts.compressed == (name == "packed.log")


def _known(n: int) -> list[bytes]:
    return [b"line %05d of a file whose lines the test knows\n" % i for i in range(n)]


def _flushed_gzip(lines: list[bytes]) -> tuple[bytes, list[int]]:
    """A gzip member with a full flush after each line: ``ends[k]`` = compressed size holding
    lines ``0..k`` complete, at a byte boundary where the next deflate block starts."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out, ends, size = [], [], 0
    for line in lines:
        piece = packer.compress(line) + packer.flush(zlib.Z_FULL_FLUSH)
        out.append(piece)
        size += len(piece)
        ends.append(size)
    return b"".join(out) + packer.flush(), ends


def _zcat(data: bytes) -> bytes:
    """gzip(1)'s decompression (exit status 2 on trailing garbage, the data still printed)."""
    return subprocess.run(["gzip", "-dc"], input=data, capture_output=True).stdout


def _count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _damaged(packed: bytes, at: int) -> bytes:
    out = bytearray(packed)
    out[at] = 0b110  # a deflate block header of the reserved, invalid type
    return bytes(out)


_LINES = _known(4_000)
_PACKED, _ENDS = _flushed_gzip(_LINES)
_WHOLE = b"".join(_LINES)
# name -> (file bytes, the decompressed bytes every line counter must see, computed independently)
AGREEMENT = {
    "plain, final newline": (b"a\nbb\n", b"a\nbb\n"),
    "plain, no final newline": (b"a\nbb\nccc", b"a\nbb\nccc"),
    "crlf": (b"a\r\nb\r\n\r\nc", b"a\r\nb\r\n\r\nc"),
    "nul bytes": (b"\0\0\na\0b\n\0", b"\0\0\na\0b\n\0"),
    "gzip": (gzip.compress(_WHOLE), _zcat(gzip.compress(_WHOLE))),
    "gzip, no final newline": (gzip.compress(_WHOLE[:-1]), _zcat(gzip.compress(_WHOLE[:-1]))),
    "multi-member gzip": (
        gzip.compress(_WHOLE[:70_001]) + gzip.compress(b"") + gzip.compress(_WHOLE[70_001:]),
        _zcat(gzip.compress(_WHOLE[:70_001]) + gzip.compress(_WHOLE[70_001:])),
    ),
    "gzip + garbage": (gzip.compress(_WHOLE) + b"\x00\x01junk\n" * 9, _zcat(gzip.compress(_WHOLE) + b"junk")),
    "gzip + zero padding": (gzip.compress(_WHOLE) + bytes(1_000), _zcat(gzip.compress(_WHOLE))),
    "gzip + 1 stray byte": (gzip.compress(_WHOLE) + b"\x1f", _WHOLE),
    "gzip cut on a line end": (_PACKED[: _ENDS[2_999]], b"".join(_LINES[:3_000])),
    "gzip cut inside its trailer": (_PACKED[:-3], _WHOLE),
    "gzip damaged after line 1234": (_damaged(_PACKED, _ENDS[1_233]), b"".join(_LINES[:1_234])),
    "gzip header only": (_PACKED[:5], b""),
}


@pytest.mark.parametrize("name", AGREEMENT)
def test_the_counter_and_the_reader_agree_with_an_independent_count(tmp_path, name):
    data, decompressed = AGREEMENT[name]
    path = tmp_path / "f"
    path.write_bytes(data)
    report = ReadReport()
    rows = [r for b in iter_line_batches(path, report, chunk_bytes=1 << 16) for r in b.to_pylist()]
    facts = file_facts(path)
    assert facts.lines == report.lines == _count(decompressed)
    assert facts.uncompressed_bytes == report.bytes_read == len(decompressed)
    assert len([r for r in rows if r["stream_error"] is None]) == _count(decompressed)
    assert (facts.stream_error is None) == (report.stream_error is None)
    assert sum(r["line_bytes"] for r in rows) == len(decompressed)


def test_a_cut_at_any_byte_keeps_the_same_lines_in_reader_and_counter(tmp_path):
    """Every cut point of a small gzip: both see exactly what Python's gzip module decodes."""
    packed = gzip.compress(b"".join(_known(40)))
    path = tmp_path / "cut.gz"
    for cut in range(0, len(packed), 7):
        path.write_bytes(packed[:cut])
        decoded = b""
        with gzip.GzipFile(fileobj=path.open("rb")) as f:
            try:
                while block := f.read1(1 << 16):
                    decoded += block
            except (EOFError, OSError):
                pass
        report = ReadReport()
        lines = sum(b.num_rows for b in iter_line_batches(path, report)) - (1 if report.stream_error else 0)
        assert lines == file_facts(path).lines == _count(decoded) == report.lines, cut


def test_oversized_lines_are_cut_but_keep_their_true_length(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(b"a" * 10 + b"\n" + b"b" * 5000 + b"\nc")
    rows = [r for b in iter_line_batches(path, max_line_bytes=1000, chunk_bytes=64) for r in b.to_pylist()]
    assert [(len(r["text"]), r["line_bytes"]) for r in rows] == [(10, 11), (1000, 5001), (1, 1)]


def test_truncated_gzip_yields_what_was_readable_and_a_marker_row(tmp_path):
    data = b"".join(b"line %d\n" % i for i in range(300_000))
    packed = gzip.compress(data)
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    report = ReadReport()
    rows = [r for b in iter_line_batches(path, report) for r in b.to_pylist()]
    facts = file_facts(path)
    assert report.stream_error and facts.stream_error
    assert 0 < facts.lines < 300_000
    assert report.lines == facts.lines
    assert rows[-1]["stream_error"] and rows[-1]["source_line"] == facts.lines + 1
    assert all(r["stream_error"] is None for r in rows[:-1])


def test_prefetching_reader_gives_the_same_batches_and_raises_reader_errors(tmp_path):
    from platform_assets.lib.line_reader import line_reader

    path = tmp_path / "many"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(200_000)))
    plain = line_reader(path, prefetch=0, chunk_bytes=1 << 16).read_all()
    ahead = line_reader(path, prefetch=2, chunk_bytes=1 << 16).read_all()
    assert ahead.equals(plain) and ahead.num_rows == 200_000
    with pytest.raises(FileNotFoundError):
        line_reader(tmp_path / "missing", prefetch=2).read_all()


@pytest.mark.parametrize("packed", [False, True])
def test_an_overlong_line_is_kept_short_while_its_end_is_searched(tmp_path, packed):
    """Lines spanning many read blocks, one ending exactly at a block boundary, one at the end."""
    block = 1 << 20
    data = (
        b"a" * 10
        + b"\n"
        + b"b" * (2 * block - 12)  # its newline is the first byte of the third read block
        + b"\nshort\n"
        + b"c" * (3 * block + 5)
        + b"\n\nd" * 3
        + b"e" * (block + 3)  # no final newline
    )
    path = tmp_path / "long"
    path.write_bytes(gzip.compress(data, 1) if packed else data)
    batches = iter_line_batches(path, max_line_bytes=1000, chunk_bytes=1 << 16)
    rows = [r for b in batches for r in b.to_pylist()]
    assert [(r["text"][:1], len(r["text"]), r["line_bytes"]) for r in rows] == [
        ("a", 10, 11),
        ("b", 1000, 2 * block - 11),
        ("s", 5, 6),
        ("c", 1000, 3 * block + 6),
        ("", 0, 1),
        ("d", 1, 2),
        ("", 0, 1),
        ("d", 1, 2),
        ("", 0, 1),
        ("d", 1000, block + 4),
    ]
    assert file_facts(path).lines == len(rows) == _count(data)


@pytest.mark.parametrize("packed", [False, True])
def test_a_pipe_is_read_without_seeking_back(tmp_path, packed):
    """Compression is sniffed from the first bytes without a seek, so a FIFO reads like a file
    (reopening it to sniff would lose those bytes or wait forever for a writer)."""
    import os

    data = b"".join(_known(5_000))
    path = tmp_path / "fifo"

    def feed() -> None:
        try:
            with open(path, "wb") as f:
                f.write(gzip.compress(data) if packed else data)
        except BrokenPipeError:
            pass

    for count in (lambda: sum(b.num_rows for b in iter_line_batches(path)), lambda: file_facts(path).lines):
        os.mkfifo(path)
        counted: list[int] = []
        threading.Thread(target=feed, daemon=True).start()
        reader = threading.Thread(target=lambda c=count, out=counted: out.append(c()), daemon=True)
        reader.start()
        reader.join(timeout=30)
        assert counted == [5_000]
        path.unlink()


@pytest.mark.parametrize("kind", ["plain", "gzip", "cut gzip"])
def test_the_reader_hashes_every_landed_byte_it_opened(tmp_path, kind):
    """The sha256 the lake records is of the bytes the reader opened, damaged tail included."""
    text = b"".join(b'{"n": %d}\n' % i for i in range(5_000))
    data = {"plain": text, "gzip": gzip.compress(text)}.get(kind) or gzip.compress(text)[:-4000]
    path = tmp_path / "landed"
    path.write_bytes(data)
    report = ReadReport()
    for _ in iter_line_batches(path, report):
        pass
    assert report.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("kind", ["plain", "gzip", "cut gzip"])
def test_file_facts_hash_every_landed_byte(tmp_path, kind):
    """The raw asset's sha256 (hashed on its own thread) is hashlib's over the whole file."""
    text = b"".join(b'{"n": %d}\n' % i for i in range(300_000))  # several read blocks
    data = {"plain": text, "gzip": gzip.compress(text)}.get(kind) or gzip.compress(text)[:-4000]
    path = tmp_path / "landed"
    path.write_bytes(data)
    assert file_facts(path).sha256 == hashlib.sha256(data).hexdigest()


def test_the_hashing_thread_keeps_block_order_and_stops_when_reading_is_abandoned(tmp_path):
    blocks = [bytes([i % 251]) * (i * 997 % 70_000) for i in range(200)]  # empty blocks too
    digest = Sha256Thread()
    for block in blocks:
        digest.update(block)
    assert digest.hexdigest() == hashlib.sha256(b"".join(blocks)).hexdigest()

    path = tmp_path / "big"
    path.write_bytes(b"x" * 999 + b"\n" * (8 << 20))
    before = {t for t in threading.enumerate() if t.name == "sha256"}
    batches = iter_line_batches(path, ReadReport(), chunk_bytes=1 << 20)
    next(batches)
    batches.close()  # a reader abandoned midway (the fast path declining) leaves no thread behind
    assert {t for t in threading.enumerate() if t.name == "sha256"} == before
