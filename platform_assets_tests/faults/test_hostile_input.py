"""Hostile input, as an attacker who can drop files into landing would send it (docs/SECURITY.md,
"Hostile input"). Content cases go through the real CLI (``platform-assets register-files`` then
one ``dagster asset materialize`` per file, as ``.ci/materialize_sample`` does); every line is
counted here, independently of the platform's reader, and must come out as an event or a
quarantined line; nothing outside the data directory is read or written; memory stays bounded."""

import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from platform_assets.layers.common.metadata import sample_markdown
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.raw import sensors
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets_tests.faults import support

XSS = '<script>alert("x")</script>'
SQLI = "'; DROP TABLE events; --"
SENTINEL = "SENTINEL-SENTINEL-7f3a"  # only outside the data directory: must never reach the lake

# A 255-byte name (the usual limit of one path component) holding "..", spaces and unicode.
LONG_NAME = ("x..y " + "é" * 200)[:250].encode("utf-8")[:251].decode("utf-8", "ignore") + ".log"
XSS_NAME = f"{XSS}{SQLI}.log"
GZGZ_NAME = "nested dir/ünïcødé 日本.log.gz"
ALL_BAD = {GZGZ_NAME, "longline.log", "bomb.log.gz"}  # files of which no line is an event
RSS_HEADROOM_MB = 256  # over an ingest of small files in the same kind of process (figures printed)


def clf(
    ts: str,
    path: str = "/",
    status: int = 200,
    size: str = "512",
    ref: str = "-",
    agent: str = "Mozilla/5.0",
    ip: str = "192.0.2.7",
) -> str:
    """One Apache combined-format line (``"`` and ``\\`` escaped inside quoted fields, as Apache does)."""

    def q(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return f'{ip} - - [{ts}] "GET {q(path)} HTTP/1.1" {status} {size} "{q(ref)}" "{q(agent)}"'


def normal(n: int, day: str = "04/Mar/2026", first: int = 0) -> list[str]:
    return [
        clf(f"{day}:10:{(first + i) // 60:02d}:{(first + i) % 60:02d} +0000", f"/product/{i}")
        for i in range(n)
    ]


def hostile_fields() -> bytes:
    """Script tags and quotes in path, referrer and agent; SQL-looking fields; 1970 and 9999;
    combined lines cut inside their byte count (the file's other lines are combined)."""
    lines = [
        *normal(20),
        clf(
            "04/Mar/2026:11:00:00 +0000",
            f"/search?q={XSS}&x=\"'",
            ref=f"https://e.example/{XSS}\"'",
            agent=XSS,
        ),
        clf("04/Mar/2026:11:00:01 +0000", "/item/1';--", ref=SQLI, agent="' OR '1'='1"),
        clf("01/Jan/1970:00:00:00 +0000", "/epoch"),
        clf("31/Dec/9999:23:00:00 -0500", "/far-future"),
        clf("04/Mar/2026:11:00:02 +0000", "/cut-1")[:-8],  # cut inside the user agent
        '192.0.2.7 - - [04/Mar/2026:11:00:03 +0000] "GET / HTTP/1.1" 200 1',
    ]
    return "".join(line + "\n" for line in lines).encode()


def odd_bytes() -> bytes:
    """CRLF endings, a NUL byte, invalid UTF-8, and a last line without its newline."""
    good = normal(6, first=100)
    return (
        "".join(line + "\r\n" for line in good[:3]).encode()
        + good[3].encode().replace(b"GET", b"G\x00ET")
        + b"\n"
        + good[4].encode().replace(b"Mozilla", b"Moz\xff\xfeilla")
        + b"\n"
        + good[5].encode()  # no trailing newline
    )


def count_lines(data: bytes) -> int:
    """Lines as a reader must see them: every newline ends one, and a non-empty tail is one more."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def write_bomb(path: Path, gib: int = 2) -> None:
    """``gib`` GiB of zeros (no newline at all) in a ~2 MB gzip: 64 MiB members, repeated."""
    member = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = member.compress(bytes(64 << 20)) + member.flush()
    with path.open("wb") as f:
        for _ in range(gib * 16):
            f.write(block)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` with its size and mtime (what a write or a rename changes)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        out[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return out


def lake_counts(layout: DataLayout, key: str) -> tuple[int, int, dict[str, str]]:
    """(events, quarantined lines, {raw line: reason}) of one landed file, counted by DuckDB over
    the Parquet files its current lake generation lists."""
    current = layout.catalog.current(file_id(key))
    if current is None:
        return 0, 0, {}
    con = duckdb.connect()
    fragments = [str(f.path) for f in current.fragments]
    events = (
        con.execute("SELECT count(*) FROM read_parquet(?)", [fragments]).fetchone()[0] if fragments else 0
    )
    rows: list[tuple[str, str]] = []
    if current.quarantine is not None and current.quarantine.exists():
        query = "SELECT coalesce(raw_line, ''), reason FROM read_parquet(?)"
        rows = con.execute(query, [str(current.quarantine)]).fetchall()
    return events, len(rows), {line[:200]: reason for line, reason in rows}


def materialize(key: str, environ: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """One CLI ingest of ``key``, in a wrapper that reports the peak RSS (MB) of its processes."""
    cmd = [
        str(support.BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "platform_assets",
        "--select",
        "group:raw or group:lake",
        "--partition",
        key,
    ]
    wrapper = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:]).returncode\n"
        "print(f'PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak = int(re.search(r"PEAK_RSS_KB=(\d+)", proc.stderr).group(1)) / 1024
    return proc, peak


@pytest.mark.e2e
def test_hostile_files_through_the_cli(tmp_path):
    """Each hostile file is ingested through the CLI: its lines are events or quarantined with a
    reason (nothing lost), user strings stay text, and nothing outside the data directory changes."""
    data = tmp_path / "data"
    layout = DataLayout(data).ensure()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text("\n".join(normal(3)).replace("/product", f"/{SENTINEL}") + "\n")
    cwd = tmp_path / "cwd"  # the CLI's working directory: must stay empty
    cwd.mkdir()

    contents = {
        XSS_NAME: hostile_fields(),
        LONG_NAME: odd_bytes(),
        GZGZ_NAME: gzip.compress(gzip.compress("".join(line + "\n" for line in normal(50)).encode())),
        "longline.log": b"a" * (100 << 20),
        "dup-a.log": "".join(line + "\n" for line in normal(5, first=200)).encode(),
    }
    contents["dup-b.log"] = contents["dup-a.log"]
    for key, blob in contents.items():
        (layout.landing / key).parent.mkdir(parents=True, exist_ok=True)
        (layout.landing / key).write_bytes(blob)
    write_bomb(layout.landing / "bomb.log.gz")
    (layout.landing / "escape.log").symlink_to(outside / "secret.log")
    (layout.landing / "escape-dir").symlink_to(outside)
    os.mkfifo(layout.landing / "pipe.log")
    (layout.landing / "bell\x07name.log").write_text(normal(1)[0] + "\n")
    assert len(LONG_NAME.encode()) == 255

    before_outside = snapshot(outside)
    started = time.time()
    environ = support.env(tmp_path / "home", data)
    registered = subprocess.run(
        [str(support.BIN / "platform-assets"), "register-files"],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert registered.returncode == 0, registered.stderr
    keys = registered.stdout.splitlines()
    # symlinks out, the FIFO and the control-character name are not files to ingest
    assert sorted(keys) == sorted([*contents, "bomb.log.gz"])

    # the name and content cases through the real CLI; the rest in one process per batch (the
    # in-process executor: the peak RSS is the ingest's own)
    results, peaks = {}, {}
    for key in (XSS_NAME, LONG_NAME):
        proc, peaks[key] = materialize(key, environ, cwd)
        errors = [line for line in proc.stderr.splitlines() if "DEBUG" not in line and "rror" in line]
        results[key] = {"success": proc.returncode == 0, "errors": errors[-20:]}
    for batch in ([GZGZ_NAME, "dup-a.log", "dup-b.log"], ["longline.log"], ["bomb.log.gz"]):
        proc = support.run(support.killable(data, "ingest_log_file", partition=batch), environ, 300, cwd)
        outcome, peak = support.outcomes(proc)
        assert sorted(outcome) == sorted(batch), proc.stderr[-3000:]
        results.update(outcome)
        peaks[" + ".join(batch)] = peak
    print("peak RSS (MB):", json.dumps({k[:24]: round(v) for k, v in peaks.items()}, ensure_ascii=False))
    print(
        "outcomes:",
        json.dumps({k[:24]: v for k, v in results.items() if "failed_checks" in v}, ensure_ascii=False),
    )

    for key, blob in contents.items():
        if key == "dup-b.log":
            continue
        events, quarantined, reasons = lake_counts(layout, key)
        expected = count_lines(gzip.decompress(blob) if key.endswith(".gz") else blob)
        assert events + quarantined == expected, (key, events, quarantined, results[key])
        assert all(reasons.values()), key
        if key in ALL_BAD:  # every line quarantined: published, and the run fails on that check
            assert set(results[key]["failed_checks"]) == {"quarantine_share"}, (key, results[key])
        else:
            assert results[key]["success"], (key, results[key])

    # hostile strings are stored as text, verbatim; the 9999 line and the cut lines are quarantined
    events, quarantined, reasons = lake_counts(layout, XSS_NAME)
    assert events + quarantined == 26 and events >= 22, reasons
    for marker in ("/far-future", "/cut-1", '"GET / HTTP/1.1" 200 1'):
        assert any(marker in line for line in reasons), (marker, reasons)
    assert all(reasons.values()), reasons
    con = duckdb.connect()
    fragments = [str(f.path) for f in layout.catalog.current(file_id(XSS_NAME)).fragments]
    stored = con.execute("SELECT * FROM read_parquet(?)", [fragments]).df()
    # the request target keeps Apache's \" escapes (the referrer and agent are unescaped): text either way
    queries = {q.replace('\\"', '"') for q in stored["query_string"].dropna()}
    assert f"q={XSS}&x=\"'" in queries and XSS in set(stored["user_agent"])
    assert f"https://e.example/{XSS}\"'" in set(stored["referrer"])
    assert "/item/1';--" in set(stored["path"]) and SQLI in set(stored["referrer"])
    assert "' OR '1'='1" in set(stored["user_agent"])
    assert set(stored["source_file"]) == {XSS_NAME}

    # CRLF lines, the unterminated last line and the NUL line (an unreadable request: method
    # INVALID) are events; invalid UTF-8 is quarantined
    events, quarantined, reasons = lake_counts(layout, LONG_NAME)
    assert (events, quarantined) == (5, 1), reasons
    assert any("UTF-8" in reason for reason in reasons.values()), reasons
    stored = con.execute(
        "SELECT * FROM read_parquet(?)",
        [[str(f.path) for f in layout.catalog.current(file_id(LONG_NAME)).fragments]],
    ).df()
    assert not stored.select_dtypes("object").apply(lambda c: c.astype(str).str.contains("\r")).any().any()
    # a gzip of a gzip: the inner stream is binary, every line of it quarantined
    events, quarantined, reasons = lake_counts(layout, GZGZ_NAME)
    assert events == 0 and quarantined >= 1
    # the 100 MB line: one quarantined line, memory bounded
    assert lake_counts(layout, "longline.log")[:2] == (0, 1)
    # the bomb: stopped at the decompressed-size limit, quarantined with that reason
    events, quarantined, reasons = lake_counts(layout, "bomb.log.gz")
    assert events == 0 and any("decompressed size limit" in r for r in reasons.values()), reasons
    small = peaks[f"{GZGZ_NAME} + dup-a.log + dup-b.log"]
    assert (
        peaks["longline.log"] < small + RSS_HEADROOM_MB and peaks["bomb.log.gz"] < small + RSS_HEADROOM_MB
    ), peaks
    # the same content under a second name: refused with a reason, counted once
    assert not results["dup-b.log"]["success"]
    assert re.search(r"same content|duplicate", json.dumps(results["dup-b.log"]), re.I), results["dup-b.log"]
    assert lake_counts(layout, "dup-a.log")[0] + lake_counts(layout, "dup-b.log")[0] == 5

    # nothing outside the data directory was read into the lake or written
    assert snapshot(outside) == before_outside
    assert list(cwd.iterdir()) == []
    lake_text = con.execute(
        "SELECT count(*) FROM read_parquet(?, union_by_name=true) WHERE path LIKE ?",
        [[str(p) for p in layout.events.rglob("*.parquet")], f"%{SENTINEL}%"],
    ).fetchone()[0]
    assert lake_text == 0
    new_in_repo = [p for p in support.REPO.rglob("*.parquet") if p.stat().st_mtime > started]
    new_in_repo += [p for p in support.REPO.rglob("catalog.sqlite") if p.stat().st_mtime > started]
    assert new_in_repo == []


def test_the_sensor_neither_hangs_nor_dies_on_hostile_entries(tmp_path, monkeypatch, capfd):
    """A FIFO with no writer, an unreadable file, symlinks out, control characters, ``...`` and a
    name that is not UTF-8: two ticks on a real instance finish promptly, request only the good
    file, and name each refused entry with its reason."""
    layout = DataLayout(tmp_path / "data").ensure()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text(SENTINEL + "\n")
    landing = layout.landing
    (landing / "good.log").write_text(normal(1)[0] + "\n")
    (landing / "locked.log").write_text(normal(1)[0] + "\n")
    os.mkfifo(landing / "pipe.log")
    (landing / "escape.log").symlink_to(outside / "secret.log")
    (landing / "escape-dir").symlink_to(outside)
    (landing / "bell\x07.log").write_text("x\n")
    (landing / "a...b.log").write_text("y\n")
    os.close(os.open(os.fsencode(landing) + b"/latin1-\xe9.log", os.O_CREAT | os.O_WRONLY, 0o644))
    # root reads everything: the permission check is the seam the sensor uses
    monkeypatch.setattr(sensors, "_is_readable", lambda path: not str(path).endswith("locked.log"))
    before_outside = snapshot(outside)
    sensor = sensors.build_landing_files_sensor()
    storage = PlatformStorage(data_dir=str(layout.root))
    requested: list[str] = []
    with dg.instance_for_test() as instance:
        cursor = None
        for _ in range(2):
            outcome: dict = {}

            def tick(out: dict = outcome, state: str | None = cursor) -> None:
                context = dg.build_sensor_context(
                    instance=instance, cursor=state, resources={"storage": storage}
                )
                out["result"] = sensor(context)

            worker = threading.Thread(target=tick, daemon=True)
            worker.start()
            worker.join(30)
            assert not worker.is_alive(), "the sensor tick hangs"
            result = outcome["result"]
            requested += [r.partition_key for r in result.run_requests or []]
            added = [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
            instance.add_dynamic_partitions(
                "log_files", [k for k in added if not instance.has_dynamic_partition("log_files", k)]
            )
            cursor = result.cursor
    assert requested == ["good.log"]
    err = capfd.readouterr().err
    for name in ("pipe.log", "escape.log", "escape-dir", "locked.log", "a...b.log"):
        assert name in err, (name, err[-3000:])
    assert snapshot(outside) == before_outside


def test_user_strings_in_markdown_metadata_are_escaped():
    """Check samples (Markdown metadata shown in the UI) carry raw lines: HTML in them is escaped."""
    text = sample_markdown(pd.DataFrame({"raw_line": [f'GET /{XSS} "{SQLI}"'], "n": [1]})).value
    assert "<script" not in text and "&lt;script&gt;" in text
