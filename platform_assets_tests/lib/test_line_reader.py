"""The line reader and the independent line counter agree on every edge of the line convention."""

import gzip

import pytest

from platform_assets.lib.line_reader import ReadReport, file_facts, iter_line_batches

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
