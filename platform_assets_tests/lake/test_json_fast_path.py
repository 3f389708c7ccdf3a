"""The JSON-lines fast path gives the validating path's lake rows, quarantine and line numbers.

Each file is ingested twice into separate data folders, once with the fast path allowed and once
with the validating path only (the reference), and every lake row, quarantine row and count is
compared. Whether the fast path took the file or declined it is asserted too, so a clean file
really exercises it; line counts are checked against a count made here by hand.
"""

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.duckdb_json_fast_path import FastPathDeclined
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets.lib.line_reader import iter_line_batches
from platform_assets.lib.plain_json_lines import plain_json_lines


def event(n: int, **overrides) -> bytes:
    fields = {
        "ts": f"2026-11-2{n % 3}T{n % 24:02d}:00:0{n % 10}+01:00",
        "ip": f"192.0.2.{n % 7}",
        "user_id": None if n % 2 else f"u{n % 5}",
        "session_id": None if n % 3 == 0 else f"s-{n % 4}",
        "method": "get",
        "path": f"/product/{n}?ref=é" if n % 4 else "/static/app.js",
        "protocol": "HTTP/1.1",
        "status": 200 + (n % 3),
        "bytes": n * 10,
        "latency_ms": 12.5 if n % 5 else None,
        "referrer": "-",
        "user_agent": "Mozilla/5.0 (iPhone) Mobile" if n % 2 else "curl/8.0",
        "device": None,
        "country": "de",
    }
    fields.update(overrides)
    return json.dumps(fields, ensure_ascii=n % 2 == 0).encode()


CLEAN = [event(n) for n in range(40)]

# name -> (file bytes, whether the fast path takes the file)
FILES: dict[str, tuple[bytes, bool]] = {
    "clean": (b"\n".join(CLEAN) + b"\n", True),
    "clean, CRLF line endings": (b"\r\n".join(CLEAN) + b"\r\n", True),
    "clean, last line without newline": (b"\n".join(CLEAN), True),
    "clean, one line": (CLEAN[0] + b"\n", True),
    "clean, compact JSON and nested values": (
        b"\n".join(
            [*CLEAN[:3], b'{"ts":"2026-11-21T10:00:00Z","ip":"h","path":{"a":[1,2]},"status":200,"x":{}}']
        )
        + b"\n",
        True,
    ),
    # values the validating path accepts in other forms than the generator writes: read_json must
    # turn each into the same text (strings for numbers, number forms, escapes, booleans, nulls)
    "clean, awkward accepted values": (
        b"\n".join(
            [
                *CLEAN[:3],
                b'{"ts":"2026-11-21T10:00:01Z","ip":"h","path":"/b","status":"200","latency_ms":2.50,"bytes":"7"}',
                b'{"ts":"2026-11-21T10:00:02Z","ip":"h","path":"/\\u00e9\\n\\"q","status":200,"bytes":-0}',
                b'{"ts":"2026-11-21T10:00:03Z","ip":"h","path":"/c","status":200,"user_id":true,"device":false}',
                b'{"ts":"2026-11-21T10:00:05Z","ip":"h","path":"/e","status":200,"session_id":"","country":null}',
                b'{"ts":"2026-11-21 10:00:06","ip":"h","path":"/f","status":200,"latency_ms":1E1,"x":[{}]}',
            ]
        )
        + b"\n",
        True,
    ),
    # the same rejected by value rules: the fast path declines, the validating path quarantines
    "awkward rejected values (key case, number forms)": (
        b"\n".join(
            [
                *CLEAN[:3],
                b'{"TS":"2026-11-21T10:00:00Z","Ip":"h","path":"/a","status":200,"user_id":"u1"}',
                b'{"ts":"2026-11-21T10:00:01Z","ip":"h","path":"/b","status":200,"bytes":1e3}',
                b'{"ts":"2026-11-21T10:00:02Z","ip":"h","path":"/c","status":2.0E2}',
                b'{"ts":"2026-11-21T10:00:04Z","ip":"h","path":"/d","status":200,"bytes":12345678901234567890}',
            ]
        )
        + b"\n",
        False,
    ),
    "invalid JSON": (b"\n".join([*CLEAN[:5], b'{"ts": "2026-11-21T10:00:00Z", "ip": ', *CLEAN[5:]]), False),
    "trailing text after the object": (b"\n".join([*CLEAN[:5], CLEAN[5] + b" x", *CLEAN[6:]]), False),
    "two objects on one line and an empty line": (
        b"\n".join([*CLEAN[:5], CLEAN[5] + CLEAN[6], b"", *CLEAN[7:]]) + b"\n",
        False,
    ),
    "invalid UTF-8": (
        b"\n".join([*CLEAN[:5], CLEAN[5].replace(b"/product", b"/pr\xffoduct"), *CLEAN[6:]]),
        False,
    ),
    "empty and blank lines": (b"\n".join([*CLEAN[:5], b"", b"   ", b"\r", *CLEAN[5:]]) + b"\n", False),
    "BOM": (b"\xef\xbb\xbf" + b"\n".join(CLEAN) + b"\n", False),
    "leading blank before the object": (b"\n".join([*CLEAN[:5], b" " + CLEAN[5], *CLEAN[6:]]), False),
    "tab and lone CR inside lines": (
        b"\n".join(
            [*CLEAN[:5], CLEAN[5].replace(b", ", b",\t"), CLEAN[6].replace(b", ", b",\r", 1), *CLEAN[7:]]
        ),
        False,
    ),
    "huge line": (b"\n".join([*CLEAN[:5], event(5, referrer="r" * (1 << 20)), *CLEAN[6:]]) + b"\n", False),
    "duplicate key": (b"\n".join([*CLEAN[:5], CLEAN[5][:-1] + b', "status": 500}', *CLEAN[6:]]), False),
    "value rules (bad status, missing path, old time)": (
        b"\n".join(
            [
                *CLEAN[:5],
                event(5, status=999),
                event(6, path=""),
                event(7, ts="1969-12-31T23:00:00Z"),
                event(8, latency_ms="NaN"),
                *CLEAN[9:],
            ]
        ),
        False,
    ),
    "NUL byte and non-object lines": (
        b"\n".join([*CLEAN[:3], b"[1, 2]", b'"x"', b"{\x00}", *CLEAN[3:]]),
        False,
    ),
    "access-log line among JSON lines": (
        b"\n".join(
            [*CLEAN[:3], b'192.0.2.9 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5', *CLEAN[3:]]
        ),
        False,
    ),
}


def _rows(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[tuple]:
    if not files:
        return []
    listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    return con.execute(
        f"SELECT * FROM read_parquet({listed}, hive_partitioning = false) ORDER BY source_line"
    ).fetchall()


def _ingest(tmp_path: Path, name: str, data: bytes, gz: bool, fast_path: bool):
    layout = DataLayout(tmp_path / ("fast" if fast_path else "validating")).ensure()
    landed = layout.landing / ("file.jsonl.gz" if gz else "file.jsonl")
    landed.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    engine = DuckDBEngine(data_dir=str(layout.root), memory_limit="1GB", threads=2)
    if fast_path:
        result = engine.ingest_log_file(str(landed), name, file_id(name))
    else:  # the validating path alone: the reference
        result = engine._ingest(str(landed), name, file_id(name), fast=False)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    events = _rows(con, [str(p) for p in layout.events.glob("date=*/*.parquet")])
    quarantine = _rows(con, [str(p) for p in layout.quarantine.glob("*.parquet")])
    return result, events, quarantine, engine, landed


def _hand_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", list(FILES))
def test_fast_path_gives_the_validating_paths_rows_and_quarantine(tmp_path, name, gz):
    data, taken = FILES[name]
    fast, fast_events, fast_quarantine, engine, landed = _ingest(tmp_path, name, data, gz, fast_path=True)
    slow, slow_events, slow_quarantine, _, _ = _ingest(tmp_path, name, data, gz, fast_path=False)

    assert fast_events == slow_events
    assert fast_quarantine == slow_quarantine
    assert (
        fast.lines,
        fast.events_by_day,
        fast.quarantined,
        fast.reasons,
        fast.stream_error,
        fast.sha256,
    ) == (
        slow.lines,
        slow.events_by_day,
        slow.quarantined,
        slow.reasons,
        slow.stream_error,
        slow.sha256,
    )
    assert fast.lines == _hand_count(data)
    assert len(fast_events) + fast.quarantined == fast.lines  # every line accounted for
    # the fast path took the clean files and declined the others
    if taken:
        engine._ingest(str(landed), name, file_id(name), fast=True)
    else:
        with pytest.raises(FastPathDeclined):
            engine._ingest(str(landed), name, file_id(name), fast=True)


def test_quarantine_line_numbers_are_the_files_own(tmp_path):
    """The reference path itself, on a file the fast path declines: bad lines by hand."""
    data, _ = FILES["value rules (bad status, missing path, old time)"]
    _result, events, quarantine, _, _ = _ingest(tmp_path, "f", data, False, fast_path=True)
    assert [(row[1], row[2]) for row in quarantine] == [
        (6, "invalid HTTP status"),
        (7, "missing path"),
        (8, "timestamp out of range"),
        (9, "invalid latency"),
    ]
    assert [row[-1] for row in events] == [n for n in range(1, 41) if n not in (6, 7, 8, 9)]


def test_fast_path_numbers_the_lines_of_a_file_larger_than_its_read_buffers(tmp_path):
    """DuckDB reads a large file in parallel buffers; rows still come in line order."""
    lines = [event(n, path=f"/p/{n}") for n in range(60_000)]
    data = b"\n".join(lines) + b"\n"
    fast, fast_events, _, engine, landed = _ingest(tmp_path, "big", data, False, fast_path=True)
    engine._ingest(str(landed), "big", file_id("big"), fast=True)  # taken, not declined
    assert fast.lines == 60_000
    by_line = {row[-1]: row for row in fast_events}
    assert sorted(by_line) == list(range(1, 60_001))
    for n in (1, 2, 9_999, 30_000, 45_678, 60_000):
        assert by_line[n][7] == f"/p/{n - 1}"  # the path column: line n holds event n - 1


@pytest.mark.parametrize(
    ("data", "plain"),
    [
        (b'{"a": 1}', True),
        (b'{"a": 1}\n{"b": 2}\r\n', True),
        (b'{"a": 1}\r\r\n', True),  # the reader strips every trailing CR: JSON text is what is left
        (b"{}\n", True),
        (b'{"a": "\xc3\xa9"}\n', True),
        (b'{"a": 1}\n\n', False),
        (b'\xef\xbb\xbf{"a": 1}\n', False),
        (b'{"a": "\xc3"}\n', False),
        (b'{"a":\t1}\n', False),
        (b'{"a":\r1}\n', False),
        (b"{\n", False),
        (b"}\n", False),
        (b" {}\n", False),
    ],
)
def test_plain_line_check_on_hand_made_bytes(tmp_path, data, plain):
    path = tmp_path / "f"
    path.write_bytes(data)
    assert plain_json_lines(iter_line_batches(path, chunk_bytes=1)) == plain


def test_a_line_over_one_mib_is_not_plain(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b'{"a": "' + b"x" * (1 << 20) + b'"}\n')
    assert not plain_json_lines(iter_line_batches(path))
