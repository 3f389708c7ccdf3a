"""Raw and lake checks on real ingest runs: clean generated files pass; a file landed twice, a day
of malformed lines, future clocks, damaged gzip and tampered fragments are caught.

Expected counts come from the generator's own tallies, from the landed bytes, or from the lines
the test wrote, never from the platform's metadata.
"""

import datetime as dt
import gzip
import hashlib
import re
from types import SimpleNamespace

import dagster as dg
import duckdb
import pytest

from platform_assets.layers.lake.checks import CHECKS
from platform_assets.layers.lake.sensors import build_lake_days_sensor, checked_records
from platform_assets.lib.layout import file_id
from platform_assets.lib.log_generator import generate_logs
from platform_assets_tests.checks_support import (
    check_run,
    evaluations,
    failing,
    ingest,
    jsonl_event,
    land,
    values,
)

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
FILE_CHECKS = {
    "raw/log_files:readable_and_hashed",
    "lake/events:lines_reconcile",
    "lake/events:quarantine_share",
    "lake/events:schema_as_documented",
    "lake/events:no_duplicate_events",
    "lake/events:timestamps_in_partition_day",
    "lake/events:no_future_timestamps",
    "lake/quarantine:rows_account_for_lines",
}
BY_NAME = {f"{c.spec.asset_key.to_user_string()}:{c.spec.name}": c for c in CHECKS}


def test_clean_generated_files_pass_every_file_check(built_platform):
    for generated, result in zip(built_platform.files, built_platform.ingests, strict=True):
        assert result.success
        checks = evaluations(result)
        assert set(checks) == FILE_CHECKS
        assert failing(result) == {}
        data = generated.path.read_bytes()
        share = values(checks["lake/events:quarantine_share"])
        assert (share["lines"], share["events"], share["quarantined"]) == (
            data.count(b"\n"),
            generated.events,
            0,
        )
        raw = values(checks["raw/log_files:readable_and_hashed"])
        assert raw["sha256"] == hashlib.sha256(data).hexdigest()
        days_on_disk = {
            p.parent.name for p in built_platform.layout.events.glob(f"*/{file_id(generated.path.name)}__*")
        }
        assert values(checks["lake/events:timestamps_in_partition_day"])["fragments"] == len(days_on_disk)


def test_the_same_events_in_other_bytes_fail_the_duplicate_check(defs, layout, instance):
    """Recompressed, the copy's bytes differ (the catalog's same-content refusal does not apply):
    the check compares events."""
    (original,) = generate_logs(layout.landing, "2026-03-02", 1, 300, seed=2, malformed_rate=0.0)
    copy = layout.landing / "resent" / "copy-of-access.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(gzip.compress(original.path.read_bytes()))

    first = ingest(defs, instance, original.path.name)
    assert first.success and failing(first) == {}
    second = ingest(defs, instance, "resent/copy-of-access.jsonl")
    assert not second.success  # blocking check failed with ERROR
    assert failing(second) == {"lake/events:no_duplicate_events": ERROR}
    duplicates = evaluations(second)["lake/events:no_duplicate_events"]
    found = values(duplicates)
    assert found["duplicate_events"] == original.events  # every event of the copy
    assert found["lines_stored_twice"] == 0
    assert found["duplicates_by_file"] == {original.path.name: original.events}
    assert f"{original.events} events of resent/copy-of-access.jsonl also appear in {original.path.name}" in (
        duplicates.description or ""
    )


def test_a_day_of_90_percent_malformed_lines_fails_and_its_day_is_not_built(defs, layout, instance, capfd):
    (bad,) = generate_logs(layout.landing, "2026-03-05", 1, 400, seed=4, malformed_rate=0.9)
    land(layout, "clean.jsonl", [jsonl_event("2026-03-08T10:00:00Z"), jsonl_event("2026-03-08T10:05:00Z")])

    result = ingest(defs, instance, bad.path.name)
    assert not result.success
    assert failing(result) == {"lake/events:quarantine_share": ERROR}
    found = values(evaluations(result)["lake/events:quarantine_share"])
    assert (found["lines"], found["quarantined"]) == (bad.lines, bad.malformed)
    assert found["quarantine_share"] == pytest.approx(bad.malformed / bad.lines)
    assert bad.malformed / bad.lines > 0.8
    assert sum(found["reasons"].values()) == bad.malformed
    assert ingest(defs, instance, "clean.jsonl").success

    # Being blocking, the failure stops the downstream build: the sensor starts no build for its days.
    sensor = build_lake_days_sensor()
    tick = sensor(dg.build_sensor_context(instance=instance, cursor=None))
    assert [r.partition_key for r in tick.run_requests] == ["2026-03-08"]
    assert (
        f"{bad.path.name!r} failed blocking checks (lake/events:quarantine_share)" in capfd.readouterr().err
    )


def test_a_few_percent_malformed_lines_is_a_warning_only(defs, layout, instance):
    (file,) = generate_logs(layout.landing, "2026-03-05", 1, 400, seed=6, malformed_rate=0.05)
    assert 0.01 < file.malformed / file.lines < 0.25
    result = ingest(defs, instance, file.path.name)
    assert result.success
    assert failing(result) == {"lake/events:quarantine_share": WARN}


def test_events_beyond_the_clock_tolerance_are_flagged_as_a_warning(defs, layout, instance):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    soon, later = now + dt.timedelta(hours=2), now + dt.timedelta(days=3)
    lines = [
        jsonl_event(t.isoformat().replace("+00:00", "Z")) for t in (now - dt.timedelta(hours=1), soon, later)
    ]
    land(layout, "clock.jsonl", lines)
    result = ingest(defs, instance, "clock.jsonl")
    assert result.success
    assert failing(result) == {"lake/events:no_future_timestamps": WARN}
    assert values(evaluations(result)["lake/events:no_future_timestamps"])["future_events"] == 1


def test_a_damaged_gzip_stream_is_a_warning_on_the_raw_file(defs, layout, instance, tmp_path):
    (plain,) = generate_logs(tmp_path / "gen", "2026-03-03", 1, 300, seed=3, malformed_rate=0.0)
    data = gzip.compress(plain.path.read_bytes())
    (layout.landing / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    result = ingest(defs, instance, "cut.jsonl.gz")
    raw = evaluations(result)["raw/log_files:readable_and_hashed"]
    assert (raw.passed, raw.severity) == (False, WARN)
    assert values(raw)["stream_error"]
    assert evaluations(result)["lake/events:lines_reconcile"].passed


def test_tampered_fragments_fail_the_schema_day_and_quarantine_checks(defs, layout, instance):
    day1 = [jsonl_event(f"2026-03-10T0{h}:00:00Z", ip=f"192.0.2.{h}") for h in range(1, 4)]
    day2 = [jsonl_event(f"2026-03-11T0{h}:00:00Z", ip=f"192.0.2.{h}") for h in range(1, 3)]
    land(layout, "t.jsonl", [*day1, "not a log line", *day2])
    result = ingest(defs, instance, "t.jsonl")
    assert result.success and failing(result) == {"lake/events:quarantine_share": WARN}  # 1 line in 6
    run, fid = check_run(defs, instance), file_id("t.jsonl")

    # The 2026-03-11 events copied into the fragment of 2026-03-10; the 2026-03-11 fragment
    # rewritten with a text status.
    day10, day11 = layout.fragments_of(fid)
    assert (day10.parent.name, day11.parent.name) == ("date=2026-03-10", "date=2026-03-11")
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_parquet(['{day10}', '{day11}'])) TO '{day10}.new' (FORMAT parquet)"
    )
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(status AS VARCHAR) AS status) FROM '{day11}') "
        f"TO '{day11}.new' (FORMAT parquet)"
    )
    for fragment in (day10, day11):
        fragment.with_name(fragment.name + ".new").replace(fragment)
    # The quarantined line (3) also claimed as quarantined for an event line (1).
    quarantine = layout.quarantine_file(fid)
    con.execute(
        f"COPY (SELECT * FROM '{quarantine}' UNION ALL "
        f"SELECT source_file, 1, reason, raw_line FROM '{quarantine}') "
        f"TO '{quarantine}.new' (FORMAT parquet)"
    )
    quarantine.with_name(quarantine.name + ".new").replace(quarantine)

    misplaced = BY_NAME["lake/events:timestamps_in_partition_day"].evaluate(run, "t.jsonl")
    assert not misplaced.passed and values(misplaced)["events_outside_their_day"] == len(day2)
    schema = BY_NAME["lake/events:schema_as_documented"].evaluate(run, "t.jsonl")
    assert not schema.passed and values(schema)["fragments_differing"] == 1
    assert re.search(r"\| status +\| INTEGER +\| VARCHAR +\|", values(schema)["differences"])
    rows = BY_NAME["lake/quarantine:rows_account_for_lines"].evaluate(run, "t.jsonl")
    assert not rows.passed and values(rows)["offending_rows"] == 1
    assert "line is also an event" in values(rows)["sample"]


def test_the_days_sensor_waits_for_a_files_checks_but_not_forever(instance):
    instance.add_run(
        dg.DagsterRun(job_name="ingest_log_file", run_id="running", status=dg.DagsterRunStatus.STARTED)
    )
    instance.add_run(
        dg.DagsterRun(job_name="ingest_log_file", run_id="done", status=dg.DagsterRunStatus.SUCCESS)
    )
    records = [
        SimpleNamespace(run_id=run, timestamp=100.0, storage_id=i)
        for i, run in enumerate(["done", "running", "done"])
    ]
    ready, blocked = checked_records(instance, records, max_wait_seconds=3600, now=200.0)
    assert [r.storage_id for r in ready] == [0] and blocked == {}  # stops before the running one
    ready, _ = checked_records(instance, records, max_wait_seconds=3600, now=100.0 + 3600)
    assert [r.storage_id for r in ready] == [0, 1, 2]  # a run that never finishes no longer holds it
