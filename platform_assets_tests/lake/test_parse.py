"""Lake parsing on hand-made lines (expected values written by hand) and on a real server log."""

import datetime as dt
import gzip
import json

import duckdb
import pytest

from platform_assets.lib.layout import file_id

UA_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
UA_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


def jsonl(**fields) -> bytes:
    return json.dumps(fields).encode()


# (line bytes, expected: dict of event fields, or the quarantine reason as a string)
CASES: list[tuple[bytes, dict | str]] = [
    (
        jsonl(
            ts="2026-11-21T00:30:00+01:00",
            ip="192.0.2.1",
            user_id="u1",
            session_id="s-a",
            method="get",
            path="/product/7?ref=mail",
            protocol="HTTP/1.1",
            status=200,
            bytes=512,
            latency_ms=12.5,
            referrer=None,
            user_agent=UA_IPHONE,
            device="mobile",
            country="de",
        ),
        {
            "ts": dt.datetime(2026, 11, 20, 23, 30),
            "event_date": dt.date(2026, 11, 20),
            "method": "GET",
            "path": "/product/7",
            "query_string": "ref=mail",
            "status": 200,
            "bytes": 512,
            "latency_ms": 12.5,
            "device": "mobile",
            "country": "DE",
            "event_type": "product",
            "session_id": "s-a",
            "visitor_id": "u1",
            "log_format": "jsonl",
        },
    ),
    (
        jsonl(
            ts="2026-11-21T10:00:00Z",
            ip="192.0.2.2",
            user_id=None,
            method="GET",
            path="/cart",
            status="404",
            bytes=None,
            user_agent=UA_FIREFOX,
        ),
        {
            "ts": dt.datetime(2026, 11, 21, 10, 0),
            "status": 404,
            "bytes": 0,
            "device": "desktop",
            "user_id": None,
            "event_type": "cart",
            "country": None,
            "latency_ms": None,
        },
    ),
    (b'{"ts": "2026-11-21T10:00:00Z", "ip": ', "invalid JSON (or not an object)"),
    (jsonl(ip="192.0.2.3", path="/", status=200), "missing or unparseable timestamp"),
    (jsonl(ts="2026-11-21T10:00:00Z", ip="192.0.2.3", path="/", status=999), "invalid HTTP status"),
    (jsonl(ts="2026-11-21T10:00:00Z", ip="192.0.2.3", status=200), "missing path"),
    (b"[1, 2, 3]", "not a recognised access-log line"),
    (
        b'203.0.113.9 - alice [21/Nov/2026:10:05:00 +0200] "POST /checkout/complete HTTP/1.1" 201 '
        b'99 "https://shop.example/cart" "' + UA_FIREFOX.encode() + b'" "0.250" "-"',
        {
            "ts": dt.datetime(2026, 11, 21, 8, 5),
            "user_id": "alice",
            "visitor_id": "alice",
            "method": "POST",
            "path": "/checkout/complete",
            "status": 201,
            "latency_ms": 250.0,
            "referrer": "https://shop.example/cart",
            "event_type": "purchase",
            "log_format": "combined",
        },
    ),
    # the combined lines of this file outnumber its common ones (3 to 1): a common-format line is
    # then a combined line cut short (common-format files: test_value_domains.py)
    (
        b'crawler.example.org - - [21/Nov/2026:10:06:00 +0000] "GET /index.html HTTP/1.0" 304 -',
        "common-format line in a combined-format file (truncated?)",
    ),
    (
        b'198.51.100.4 - - [21/Nov/2026:10:07:00 +0000] "GET /search?q=a%22b HTTP/1.1" 200 10 "-" '
        b'"Agent \\"quoted\\" Googlebot/2.1"\r',
        {
            "user_agent": 'Agent "quoted" Googlebot/2.1',
            "device": "bot",
            "path": "/search",
            "query_string": "q=a%22b",
            "event_type": "search",
            "referrer": None,
        },
    ),
    (
        b'198.51.100.5 - - [21/Nov/2026:10:08:00 +0000] "-" 408 0 "-" "-"',
        {"method": "INVALID", "path": "(invalid request)", "event_type": "invalid", "status": 408},
    ),
    (
        b'198.51.100.6 - - [21/Nov/2026:10:09:00 +0000] "GET / HTTP/1.1" 200 5 "-" "unclosed',
        "not a recognised access-log line",
    ),
    (
        b'198.51.100.6 - - [99/Xyz/2026:10:09:00 +0000] "GET / HTTP/1.1" 200 5',
        "missing or unparseable timestamp",
    ),
    (b"", "empty line"),
    (b"   \t", "empty line"),
    (b"caf\xe9 \xff\xfe not utf-8", "not valid UTF-8"),
    (b'{"path": "' + b"x" * (1 << 20) + b'"}', "line longer than 1 MiB"),
]


@pytest.fixture
def fixture_file(layout):
    path = layout.landing / "mixed formats.log"
    path.write_bytes(b"\n".join(line for line, _ in CASES) + b"\n")
    return path


def read_events(layout) -> list[dict]:
    frames = [str(p) for p in layout.events.glob("date=*/*.parquet")]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = f"SELECT * FROM read_parquet({frames}, hive_partitioning = false) ORDER BY source_line"
    return con.execute(sql).df().astype(object).where(lambda df: df.notna(), None).to_dict("records")


def read_quarantine(layout) -> list[dict]:
    con = duckdb.connect()
    return (
        con.execute(f"SELECT * FROM '{layout.quarantine}/*.parquet' ORDER BY source_line")
        .df()
        .to_dict("records")
    )


def test_every_hand_made_line_is_an_event_or_quarantined_with_its_reason(engine, layout, fixture_file):
    result = engine.ingest_log_file(str(fixture_file), "mixed formats.log", file_id("mixed formats.log"))
    events = {e["source_line"]: e for e in read_events(layout)}
    quarantine = {q["source_line"]: q for q in read_quarantine(layout)}

    assert result.lines == len(CASES)
    assert result.events + result.quarantined == len(CASES)
    assert set(events) | set(quarantine) == set(range(1, len(CASES) + 1))
    assert not set(events) & set(quarantine)
    for line_no, (line, expected) in enumerate(CASES, start=1):
        if isinstance(expected, str):
            assert line_no in quarantine, f"line {line_no} should be quarantined: {line[:80]!r}"
            assert quarantine[line_no]["reason"] == expected
            assert quarantine[line_no]["source_file"] == "mixed formats.log"
        else:
            assert line_no in events, f"line {line_no} should parse: {line[:80]!r}"
            event = events[line_no]
            for column, value in expected.items():
                actual = event[column]
                if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                    actual = actual.date() if isinstance(actual, dt.datetime) else actual
                assert actual == value, f"line {line_no} column {column}: {actual!r} != {value!r}"


def test_quarantine_keeps_the_raw_text_with_undecodable_bytes_escaped(engine, layout, fixture_file):
    engine.ingest_log_file(str(fixture_file), "mixed formats.log", file_id("mixed formats.log"))
    rows = {q["reason"]: q for q in read_quarantine(layout)}
    assert rows["not valid UTF-8"]["raw_line"].startswith("caf\\xe9 \\xff\\xfe")
    assert rows["invalid JSON (or not an object)"]["raw_line"] == '{"ts": "2026-11-21T10:00:00Z", "ip": '
    assert len(rows["line longer than 1 MiB"]["raw_line"]) == 65536


def test_access_log_lines_are_sessionised_by_visitor_and_30_minutes_of_inactivity(engine, layout):
    ua = UA_FIREFOX.encode()
    times = ["10:00:00", "10:20:00", "10:49:59", "11:20:00"]  # gaps: 20m, 29m59s, 30m01s
    lines = [
        b"192.0.2.50 - - [21/Nov/2026:" + t.encode() + b' +0000] "GET / HTTP/1.1" 200 1 "-" "' + ua + b'"'
        for t in times
    ]
    lines.append(b'192.0.2.51 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "' + ua + b'"')
    path = layout.landing / "s.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    engine.ingest_log_file(str(path), "s.log", file_id("s.log"))
    sessions = [e["session_id"] for e in read_events(layout)]
    assert sessions[0] == sessions[1] == sessions[2]
    assert sessions[3] != sessions[2]
    assert sessions[4] not in sessions[:4]


def test_real_apache_log_reconciles_with_independently_counted_facts(engine, layout, real_apache_log):
    """Counts from shared/data/SOURCES.md, established outside this project."""
    result = engine.ingest_log_file(str(real_apache_log), "apache.log", file_id("apache.log"))
    assert result.lines == 10_000
    assert result.quarantined == 1
    assert [q["source_line"] for q in read_quarantine(layout)] == [8899]
    con = duckdb.connect()
    facts = con.execute(
        f"""SELECT count(*), 0,
                   count(*) FILTER (WHERE referrer IS NULL), count(*) FILTER (WHERE user_agent IS NULL),
                   count(DISTINCT ip), count(*) FILTER (WHERE referrer LIKE '%\\x%'),
                   count(*) FILTER (WHERE method = 'GET'), count(*) FILTER (WHERE method = 'HEAD'),
                   count(*) FILTER (WHERE method = 'POST'), count(*) FILTER (WHERE method = 'OPTIONS'),
                   count(*) FILTER (WHERE protocol = 'HTTP/1.0')
            FROM '{layout.events}/*/*.parquet'"""
    ).fetchone()
    # The malformed line 8899 is a GET over HTTP/1.1; SOURCES counts its method among all lines but
    # its '-' referrer only among well-formed ones (grep finds 4,073 '-' referrers in all lines).
    events, _, referrer_dash, agent_dash, ips, escaped, get, head, post, options, http10 = facts
    assert events == 9_999
    assert referrer_dash == 4_072
    assert agent_dash == 190
    assert ips == 1_753
    assert escaped == 3
    assert (get, head, post, options) == (9_952 - 1, 42, 5, 1)
    assert http10 == 700
    dash_bytes = con.execute(
        f"SELECT count(*) FROM read_csv('{real_apache_log}', columns={{'l': 'VARCHAR'}}, delim='\\t', "
        "quote='', header=false) WHERE regexp_matches(l, '\" [0-9]{3} - ')"
    ).fetchone()[0]
    assert dash_bytes == 669
    assert (
        con.execute(f"SELECT count(*) FROM '{layout.events}/*/*.parquet' WHERE bytes = 0").fetchone()[0]
        >= 669
    )
    assert sorted(result.events_by_day) == ["2015-05-17", "2015-05-18", "2015-05-19", "2015-05-20"]


def test_gzip_and_plain_give_the_same_events(engine, layout, real_apache_log):
    (layout.landing / "a.log.gz").write_bytes(gzip.compress(real_apache_log.read_bytes()))
    gz = engine.ingest_log_file(str(layout.landing / "a.log.gz"), "a.log.gz", file_id("a.log.gz"))
    plain = engine.ingest_log_file(str(real_apache_log), "b.log", file_id("b.log"))
    assert gz.events_by_day == plain.events_by_day
    con = duckdb.connect()
    cols = "ts, ip, session_id, path, status, bytes, referrer, user_agent, source_line"
    by_file = {
        f: con.execute(
            f"SELECT {cols} FROM '{layout.events}/*/*.parquet' WHERE source_file = ? ORDER BY source_line",
            [f],
        ).fetchall()
        for f in ("a.log.gz", "b.log")
    }
    assert by_file["a.log.gz"] == by_file["b.log"]


def test_reingesting_a_file_replaces_its_rows_and_drops_days_it_no_longer_has(engine, layout):
    path = layout.landing / "x.jsonl"
    day1 = jsonl(ts="2026-11-20T12:00:00Z", ip="192.0.2.1", path="/", status=200, session_id="s-1")
    day2 = jsonl(ts="2026-11-21T12:00:00Z", ip="192.0.2.1", path="/", status=200, session_id="s-1")
    path.write_bytes(day1 + b"\n" + day2 + b"\n")
    fid = file_id("x.jsonl")
    first = engine.ingest_log_file(str(path), "x.jsonl", fid)
    again = engine.ingest_log_file(str(path), "x.jsonl", fid)
    assert first.events_by_day == again.events_by_day == {"2026-11-20": 1, "2026-11-21": 1}
    assert len(read_events(layout)) == 2
    path.write_bytes(day1 + b"\n")
    engine.ingest_log_file(str(path), "x.jsonl", fid)
    assert [e["event_date"].date().isoformat() for e in read_events(layout)] == ["2026-11-20"]
    assert layout.day_fragments("2026-11-21") == []


def test_truncated_gzip_keeps_what_was_readable_and_records_the_damage(engine, layout, real_apache_log):
    whole = gzip.compress(real_apache_log.read_bytes())
    (layout.landing / "cut.log.gz").write_bytes(whole[: len(whole) // 2])
    result = engine.ingest_log_file(str(layout.landing / "cut.log.gz"), "cut.log.gz", file_id("cut.log.gz"))
    assert result.stream_error.startswith(f"truncated gzip stream at compressed byte {len(whole) // 2} ")
    assert 0 < result.events < 10_000
    assert any(reason.startswith("corrupt compressed stream") for reason in result.reasons)
