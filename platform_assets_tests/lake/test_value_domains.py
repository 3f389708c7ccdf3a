"""What a parsed line may contain: event times in a window, status, bytes and latency in their
domains, and no common-format line inside a combined-format file (a truncated line).

Each hostile value sits among good lines: the file lands, good lines are events, every bad line
is one quarantine row with its line number and the reason written here by hand, and the marts
build over the day (sum(bytes) cannot overflow). The same lines are ingested by Spark in
``engines/test_spark_lake_parity.py``.
"""

import datetime as dt

import duckdb
import pytest

from platform_assets.engines.base import LakeDays, PartitionWrite
from platform_assets.lib.layout import file_id
from platform_assets.sql import load_folder

TS_RANGE = "timestamp out of range"
TS_BAD = "missing or unparseable timestamp"
STATUS = "invalid HTTP status"
BYTES = "invalid byte count"
LATENCY = "invalid latency"
TRUNCATED = "common-format line in a combined-format file (truncated?)"

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
CAP = 1 << 40  # the largest byte count a line may claim


def js(ts='"2026-11-21T10:00:00Z"', status="200", size="100", latency="5.0") -> str:
    """A JSON line with its values spelt exactly as given (raw JSON text)."""
    return (
        f'{{"ts": {ts}, "ip": "192.0.2.1", "session_id": "s-1", "path": "/", '
        f'"status": {status}, "bytes": {size}, "latency_ms": {latency}}}'
    )


def clf(time="21/Nov/2026:10:00:00 +0000", status="200", size="100", trailing=' "0.250"') -> str:
    """A combined-format line (nginx style, $request_time after the agent)."""
    return f'192.0.2.10 - - [{time}] "GET /p HTTP/1.1" {status} {size} "-" "{UA}"{trailing}'


GOOD = {"status": 200, "bytes": 100}

# (line, expected: a dict of event fields, or the quarantine reason)
HOSTILE_JSON: list[tuple[str, dict | str]] = [
    (js(), {"ts": dt.datetime(2026, 11, 21, 10, 0), "latency_ms": 5.0, **GOOD}),
    # event time: 1970-01-01T00:00:00Z <= ts (UTC) < 2100-01-01T00:00:00Z, a four-digit year
    (js(ts='"9999-12-31T23:00:00-05:00"'), TS_RANGE),
    (js(ts='"-0001-01-01T00:00:00Z"'), TS_BAD),
    (js(ts='"12345-01-01T00:00:00Z"'), TS_BAD),
    (js(ts='"+12345-01-01T00:00:00Z"'), TS_BAD),
    (js(ts='"infinity"'), TS_BAD),
    (js(ts='"epoch"'), TS_BAD),
    (js(ts='"0001-01-01T00:30:00+01:00"'), TS_RANGE),
    (js(ts='"0000-01-01T00:00:00Z"'), TS_RANGE),
    (js(ts='"1970-01-01T00:00:00Z"'), {"ts": dt.datetime(1970, 1, 1), "event_date": dt.date(1970, 1, 1)}),
    (js(ts='"1969-12-31T23:59:59Z"'), TS_RANGE),
    (js(ts='"1970-01-01T00:30:00+01:00"'), TS_RANGE),
    (js(ts='"2099-12-31T23:59:59Z"'), {"ts": dt.datetime(2099, 12, 31, 23, 59, 59)}),
    (js(ts='"2100-01-01T00:00:00Z"'), TS_RANGE),
    (js(ts='"2100-01-01T00:30:00+01:00"'), {"ts": dt.datetime(2099, 12, 31, 23, 30)}),
    # status: three digits 100..599, as a JSON integer or a string of three digits
    (js(status="200.7"), STATUS),
    (js(status="2e2"), STATUS),
    (js(status="200.0"), STATUS),
    (js(status='"200 "'), STATUS),
    (js(status='"2e2"'), STATUS),
    (js(status="99"), STATUS),
    (js(status="600"), STATUS),
    (js(status="-200"), STATUS),
    (js(status="true"), STATUS),
    (js(status='"200\\n"'), STATUS),  # a JSON string ending in a newline
    (js(status='"404"'), {"status": 404}),
    (js(status="100"), {"status": 100}),
    (js(status="599"), {"status": 599}),
    # bytes: an integer 0..2^40, as a JSON integer or a string of digits; null or "-" is 0
    (js(size="-9223372036854775808"), BYTES),
    (js(size="-1"), BYTES),
    (js(size=str(CAP + 1)), BYTES),
    (js(size="9223372036854775807"), BYTES),
    (js(size="18446744073709551616"), BYTES),
    (js(size="512.0"), BYTES),
    (js(size="1e3"), BYTES),
    (js(size='" 12"'), BYTES),
    (js(size='"12\\n"'), BYTES),
    (js(size=str(CAP)), {"bytes": CAP}),
    (js(size=str(CAP)), {"bytes": CAP}),
    (js(size='"12"'), {"bytes": 12}),
    (js(size="0"), {"bytes": 0}),
    (js(size="null"), {"bytes": 0}),
    (js(size='"-"'), {"bytes": 0}),
    # latency: a finite number of milliseconds, 0..86,400,000 (one day); null when absent
    (js(latency='"NaN"'), LATENCY),
    (js(latency='"Infinity"'), LATENCY),
    (js(latency='"inf"'), LATENCY),
    (js(latency="-1"), LATENCY),
    (js(latency="-0.001"), LATENCY),
    (js(latency="1e400"), LATENCY),
    (js(latency="1e308"), LATENCY),
    (js(latency="86400000.5"), LATENCY),
    (js(latency='"12.5d"'), LATENCY),
    (js(latency='"0x10"'), LATENCY),
    (js(latency="true"), LATENCY),
    (js(latency='"12\\n"'), LATENCY),
    (js(latency="86400000"), {"latency_ms": 86_400_000.0}),
    (js(latency="0"), {"latency_ms": 0.0}),
    (js(latency='"12.5"'), {"latency_ms": 12.5}),
    (js(latency="1.5e3"), {"latency_ms": 1500.0}),
    (js(latency="null"), {"latency_ms": None}),
    (js(), {"ts": dt.datetime(2026, 11, 21, 10, 0), **GOOD}),
]

HOSTILE_ACCESS: list[tuple[str, dict | str]] = [
    (clf(), {"ts": dt.datetime(2026, 11, 21, 10, 0), "latency_ms": 250.0, **GOOD}),
    (clf(time="31/Dec/9999:23:00:00 -0500"), TS_RANGE),
    (clf(time="01/Jan/0000:00:00:00 +0000"), TS_RANGE),
    (clf(time="31/Dec/12345:00:00:00 +0000"), TS_BAD),
    (clf(time="01/Jan/1970:00:00:00 +0000"), {"ts": dt.datetime(1970, 1, 1)}),
    (clf(time="31/Dec/1969:23:59:59 +0000"), TS_RANGE),
    (clf(time="01/Jan/1970:00:30:00 +0100"), TS_RANGE),
    (clf(time="31/Dec/2099:23:59:59 +0000"), {"ts": dt.datetime(2099, 12, 31, 23, 59, 59)}),
    (clf(time="01/Jan/2100:00:00:00 +0000"), TS_RANGE),
    (clf(status="099"), STATUS),
    (clf(status="600"), STATUS),
    (clf(status="100"), {"status": 100}),
    (clf(size=str(CAP + 1)), BYTES),
    (clf(size="9223372036854775808"), BYTES),
    (clf(size="9" * 30), BYTES),
    (clf(size=str(CAP)), {"bytes": CAP}),
    (clf(size="-"), {"bytes": 0}),
    # the first trailing field, when numeric, is nginx's $request_time in seconds
    (clf(trailing=' "86400.000"'), {"latency_ms": 86_400_000.0}),
    (clf(trailing=" 86400.001"), LATENCY),
    (clf(trailing=' "100000"'), LATENCY),
    (clf(trailing=" " + "9" * 400), LATENCY),
    (clf(trailing=' "0.000" "-"'), {"latency_ms": 0.0}),
    (clf(trailing=' "-"'), {"latency_ms": None}),
    (clf(trailing=""), {"latency_ms": None}),
]

# A combined-format file with lines cut short: a line that matches only the common format (no
# referrer and agent) is quarantined; a cut that leaves a quote open never matched at all.
_FULL = '192.0.2.20 - - [21/Nov/2026:11:00:00 +0000] "GET /a HTTP/1.1" 200 1234 "http://r/" "' + UA + '"'
CUT_COMBINED: list[tuple[str, dict | str]] = [
    (_FULL, {"bytes": 1234, "log_format": "combined"}),
    (_FULL[: _FULL.index(" 1234") + 2], TRUNCATED),  # ... 200 1
    (_FULL[: _FULL.index(' "http')], TRUNCATED),  # ... 200 1234
    (_FULL[: _FULL.index(' "Mozilla')], TRUNCATED),  # ... 200 1234 "http://r/"
    (_FULL[: _FULL.index(' "Mozilla') + 5], "not a recognised access-log line"),  # open quote
    (_FULL[: _FULL.index(" 200")], "not a recognised access-log line"),
    (_FULL.replace("[21/Nov/2026", "[21/Xyz/2026")[: _FULL.index(' "http')], TS_BAD),  # line rule first
    # an empty referrer and agent are still the combined format
    (_FULL.replace('"http://r/" "' + UA + '"', '"" ""'), {"log_format": "combined", "referrer": None}),
    (_FULL.replace("/a ", "/b "), {"path": "/b", "log_format": "combined"}),
    (_FULL + ' "0.010"', {"latency_ms": 10.0, "log_format": "combined"}),
    (js(ts='"2026-11-21T11:00:00Z"'), {"log_format": "jsonl"}),  # JSON lines do not count
]
_COMMON = '192.0.2.30 - bob [21/Nov/2026:12:00:00 +0000] "GET /c HTTP/1.0" 304 -'
ALL_COMMON: list[tuple[str, dict | str]] = [
    (_COMMON, {"bytes": 0, "user_id": "bob", "protocol": "HTTP/1.0", "log_format": "common"}),
    (
        'crawler.example.org - - [21/Nov/2026:10:06:00 +0000] "GET /index.html HTTP/1.0" 304 -',
        {"ip": "crawler.example.org", "referrer": None, "event_type": "landing", "log_format": "common"},
    ),
    (_COMMON.replace("304 -", "200 5"), {"bytes": 5, "user_agent": None, "device": "unknown"}),
    (_COMMON.replace("304 -", "200 5 0.100"), {"latency_ms": 100.0, "log_format": "common"}),
]
# as many common as combined lines: no format is the file's, every line stands
TIE: list[tuple[str, dict | str]] = [
    (_FULL, {"log_format": "combined"}),
    (_COMMON, {"log_format": "common"}),
    (_FULL.replace("/a ", "/b "), {"log_format": "combined"}),
    (_COMMON.replace("/c ", "/d "), {"log_format": "common"}),
]


# every hostile file of this module, for the tests here and the Spark parity test
HOSTILE_FILES = [
    ("hostile.jsonl", HOSTILE_JSON),
    ("hostile-access.log", HOSTILE_ACCESS),
    ("cut-combined.log", CUT_COMBINED),
    ("all-common.log", ALL_COMMON),
    ("tie.log", TIE),
]


def _lines(cases) -> bytes:
    return "\n".join(line for line, _ in cases).encode() + b"\n"


def _rows(layout, what: str, source_file: str) -> dict[int, dict]:
    glob = f"{layout.events}/date=*/*.parquet" if what == "events" else f"{layout.quarantine}/*.parquet"
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        frame = con.execute(
            f"SELECT * FROM read_parquet('{glob}', hive_partitioning = false) WHERE source_file = ?",
            [source_file],
        ).df()
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {r["source_line"]: r for r in records}


def _assert_lines(layout, result, source_file: str, cases) -> None:
    """Every line is an event with the expected fields or one quarantine row with its reason."""
    events, quarantine = _rows(layout, "events", source_file), _rows(layout, "quarantine", source_file)
    expected_reasons = {n: e for n, (_, e) in enumerate(cases, start=1) if isinstance(e, str)}
    assert result.lines == len(cases)
    assert {n: q["reason"] for n, q in quarantine.items()} == expected_reasons
    assert set(events) == set(range(1, len(cases) + 1)) - set(expected_reasons)
    assert result.quarantined == len(expected_reasons)
    for n, (line, expected) in enumerate(cases, start=1):
        if isinstance(expected, str):
            assert quarantine[n]["raw_line"] == line
            continue
        for column, value in expected.items():
            actual = events[n][column]
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                actual = actual.date()
            assert actual == value, f"line {n} {column}: {actual!r} != {value!r} ({line[:90]})"


def _ingest(engine, layout, name: str, cases):
    path = layout.landing / name
    path.write_bytes(_lines(cases))
    return engine.ingest_log_file(str(path), name, file_id(name))


@pytest.mark.parametrize(("name", "cases"), HOSTILE_FILES)
def test_each_hostile_line_is_quarantined_alone_with_its_reason(engine, layout, name, cases):
    result = _ingest(engine, layout, name, cases)
    _assert_lines(layout, result, name, cases)


def test_a_bare_nan_latency_is_quarantined(engine, layout):
    """DuckDB's JSON reader accepts a bare NaN (Spark's Jackson rejects the line as invalid JSON)."""
    cases = [(js(), GOOD), (js(latency="NaN"), LATENCY), (js(latency="-Infinity"), LATENCY)]
    result = _ingest(engine, layout, "nan.jsonl", cases)
    _assert_lines(layout, result, "nan.jsonl", cases)


def test_the_issue_file_of_twenty_lines_with_one_year_9999_line_lands_nineteen(engine, layout):
    """Issue 13, fault 2: one out-of-range time made the whole file fail (OverflowError)."""
    cases = [(js(ts=f'"2026-11-21T10:{m:02d}:00Z"'), GOOD) for m in range(20)]
    cases[9] = (js(ts='"9999-12-31T23:00:00-05:00"'), TS_RANGE)
    result = _ingest(engine, layout, "twenty.jsonl", cases)
    assert result.events_by_day == {"2026-11-21": 19}
    _assert_lines(layout, result, "twenty.jsonl", cases)


def test_ten_of_four_hundred_combined_lines_cut_short_are_all_quarantined(engine, layout):
    """The issue's case: 10 of 400 lines cut inside their bytes field, or just after it."""
    lines = [_FULL.replace("/a ", f"/p{i} ") for i in range(400)]
    cut_at = {7: " 1234", 50: " 1234", 99: ' "http', 150: ' "Mozilla', 201: " 1234"}
    cut_at |= {n: " 1234" for n in (230, 260, 300, 333, 399)}
    for n, marker in cut_at.items():
        lines[n] = lines[n][: lines[n].index(marker) + (3 if marker == " 1234" else 0)]
    cases = [(line, TRUNCATED if n in cut_at else {"log_format": "combined"}) for n, line in enumerate(lines)]
    result = _ingest(engine, layout, "cut400.log", cases)
    assert result.events == 390 and result.reasons == {TRUNCATED: 10}
    _assert_lines(layout, result, "cut400.log", cases)


def test_the_marts_build_over_a_day_of_hostile_lines(engine, layout):
    """Every mart of the day builds, and bytes served is the sum of the accepted lines' bytes."""
    _ingest(engine, layout, "hostile.jsonl", HOSTILE_JSON)
    _ingest(engine, layout, "hostile-access.log", HOSTILE_ACCESS)
    day = dt.date(2026, 11, 21)
    # accepted lines of the day, counted by hand: 16 JSON lines (2 at the cap, one of 12 bytes,
    # 3 of 0, 10 of 100) and 8 access-log lines (1 at the cap, one '-', 6 of 100)
    expected_bytes = 3 * CAP + 12 + 16 * 100
    writes = [
        PartitionWrite(definition, {"events": LakeDays("events", day, day)}, day)
        for definition in load_folder("marts")
    ]
    written = {w.table: w.rows for w in engine.write_partitions(writes)}
    assert set(written) == {"daily_traffic", "funnel", "sessions", "user_activity"}
    assert all(rows > 0 for rows in written.values())
    with duckdb.connect(str(layout.warehouse_db), read_only=True) as con:
        served = con.execute("SELECT sum(bytes) FROM daily_traffic WHERE event_date = ?", [day]).fetchone()[0]
        latency = con.execute("SELECT max(p95_latency_ms) FROM daily_traffic").fetchone()[0]
    assert served == expected_bytes
    assert latency <= 86_400_000
