"""The landing sensor on a real ephemeral instance: each landed file is requested once, when complete.

Ticks are evaluated with ``build_sensor_context``; between ticks the test applies the tick's
dynamic-partition requests to the instance, as the sensor daemon does before it stores the cursor.
"""

import gzip
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import dagster as dg

from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.lake.assets import EVENTS, LINES_RECONCILE
from platform_assets.layers.raw import sensors
from platform_assets.layers.raw.sensors import build_landing_files_sensor, landing_files_sensor
from platform_assets.lib.layout import DataLayout

LINE = b'{"ts": "2026-11-20T10:00:00Z", "ip": "192.0.2.1", "path": "/product/1", "status": 200}\n'


class Ticks:
    """Evaluates one sensor tick after the other, carrying the cursor like the daemon."""

    def __init__(self, sensor: dg.SensorDefinition, instance: dg.DagsterInstance, layout: DataLayout) -> None:
        self.sensor, self.instance = sensor, instance
        self.storage = PlatformStorage(data_dir=str(layout.root))
        self.cursor: str | None = None
        self.requested: list[str] = []

    def evaluate(self, cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources={"storage": self.storage}
        )
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    def __call__(self) -> list[str]:
        """One tick: returns the partition keys it requested."""
        result = self.evaluate(self.cursor)
        self.run_requests = list(result.run_requests or [])
        keys = [request.partition_key for request in result.run_requests or []]
        added = [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
        assert sorted(added) == sorted(keys)
        new = [k for k in added if not self.instance.has_dynamic_partition("log_files", k)]
        self.instance.add_dynamic_partitions("log_files", new)
        self.cursor = result.cursor
        self.requested += keys
        return keys

    @property
    def state(self) -> dict:
        return json.loads(self.cursor or "{}")


def land(layout: DataLayout, key: str, content: bytes = LINE) -> Path:
    path = layout.landing / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_a_new_file_is_requested_once_when_its_size_and_mtime_held_for_a_tick(instance, layout):
    tick = Ticks(landing_files_sensor, instance, layout)
    land(layout, "2026/11/access.log")
    assert tick() == []  # first sighting: pending
    assert "2026/11/access.log" in tick.state["pending"]
    first_cursor = tick.cursor

    result = tick.evaluate(tick.cursor)
    (request,) = result.run_requests
    digest = hashlib.sha256(LINE).hexdigest()
    assert request.partition_key == "2026/11/access.log"
    assert request.run_key == f"2026/11/access.log:{digest}"
    assert request.tags["platform/sha256"] == digest
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "log_files" and list(add.partition_keys) == ["2026/11/access.log"]

    assert tick() == ["2026/11/access.log"]
    assert tick() == [] and tick() == []
    assert tick.state["pending"] == {}
    # the same tick evaluated again (its cursor lost after the partition was added): same run key
    (again,) = tick.evaluate(first_cursor).run_requests
    assert again.run_key == request.run_key


def test_in_progress_names_and_growing_files_wait_until_they_are_complete(instance, layout):
    tick = Ticks(landing_files_sensor, instance, layout)
    part = land(layout, "a.log.part")
    land(layout, ".hidden.log")
    land(layout, "upload/.staging/b.log")
    growing = land(layout, "c.log")
    assert tick() == []
    with growing.open("ab") as f:
        f.write(LINE)
    assert tick() == []  # size changed: the wait starts again
    assert tick() == ["c.log"]
    part.rename(layout.landing / "a.log")
    assert tick() == []
    assert tick() == ["a.log"]
    assert tick() == []
    assert sorted(tick.requested) == ["a.log", "c.log"]


def test_the_stability_wait_is_configurable_and_uses_an_injectable_clock(instance, layout):
    now = [1_800_000_000.0]
    sensor = build_landing_files_sensor(stable_ticks=2, min_quiet_seconds=60, clock=lambda: now[0])
    tick = Ticks(sensor, instance, layout)
    path = land(layout, "a.log")
    os.utime(path, (now[0] - 10, now[0] - 10))
    assert tick() == []  # seen
    assert tick() == []  # unchanged for 1 tick, 2 needed
    assert tick() == []  # unchanged for 2 ticks, but written only 10 s ago
    now[0] += 50
    assert tick() == ["a.log"]


def test_identical_content_under_another_name_is_skipped_and_remembered(instance, layout):
    tick = Ticks(landing_files_sensor, instance, layout)
    land(layout, "a.log")
    land(layout, "copy of a.log")
    land(layout, "empty-1.log", b"")
    land(layout, "empty-2.log", b"")
    tick()
    # empty files carry nothing that could be counted twice: both are requested
    assert sorted(tick()) == ["a.log", "empty-1.log", "empty-2.log"]
    assert tick.state["skipped"]["copy of a.log"][0] == "duplicate"

    result = tick.evaluate(tick.cursor)  # the duplicate is not hashed again while unchanged
    assert result.skip_reason and "(0 files, 0 bytes hashed)" in result.skip_reason.skip_message
    land(layout, "later/a-again.log")  # lands after a.log was requested
    assert tick() == [] and tick() == []
    assert tick.state["skipped"]["later/a-again.log"][0] == "duplicate"

    land(layout, "copy of a.log", LINE * 2)  # rewritten with new content: a new file
    assert tick() == [] and tick() == ["copy of a.log"]
    assert "copy of a.log" not in tick.state["skipped"]


def test_a_backlog_is_requested_in_bounded_batches_without_duplicates(instance, layout):
    for i in range(500):
        land(layout, f"backlog/{i // 100}/file-{i:04d}.log", LINE.replace(b"/product/1", f"/p/{i}".encode()))
    tick = Ticks(landing_files_sensor, instance, layout)
    assert [len(tick()) for _ in range(5)] == [0, 200, 200, 100, 0]
    assert len(tick.requested) == len(set(tick.requested)) == 500
    assert set(instance.get_dynamic_partitions("log_files")) == set(tick.requested)
    state = tick.state
    assert state["pending"] == {} and state["skipped"] == {} and len(state["sha256"]) == 500
    assert len(tick.cursor) < 12_000  # 500 ingested files: about 19 bytes each


def test_hashing_is_bounded_in_bytes_per_tick_and_a_large_file_goes_alone(instance, layout):
    sensor = build_landing_files_sensor(max_bytes_per_tick=250)
    tick = Ticks(sensor, instance, layout)
    land(layout, "a-big.log", LINE * 10)  # ~900 bytes, over the budget on its own
    for name in ("b.log", "c.log", "d.log"):
        land(layout, name, LINE + name.encode() + b"\n")
    assert tick() == []
    assert tick() == ["a-big.log"]
    assert tick() == ["b.log", "c.log"]
    assert tick() == ["d.log"]


def test_a_file_removed_before_processing_is_skipped_without_error(instance, layout, capfd):
    tick = Ticks(landing_files_sensor, instance, layout)
    gone = land(layout, "gone.log")
    land(layout, "stays.log", LINE * 2)
    assert tick() == []
    gone.unlink()
    assert tick() == ["stays.log"]
    assert "'gone.log' was removed before it was processed" in capfd.readouterr().err
    assert tick.state["pending"] == {}
    (layout.landing / "stays.log").unlink()  # removed after its request: nothing to do
    assert tick() == []


def test_unsafe_entries_are_skipped_with_one_log_line_and_never_read(
    instance, layout, tmp_path, monkeypatch, capfd
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_bytes(b"secret\n")
    land(layout, "ok.log")
    land(layout, "x..y.log", LINE * 2)  # two dots inside a name are harmless (validate_file_key)
    land(layout, "a...b.log", LINE * 3)  # Dagster reads "..." as a partition range
    land(layout, "bell\x07.log", LINE * 4)
    land(layout, "x\\..\\y.log", LINE * 5)
    land(layout, "..\\..\\passwd", LINE * 6)  # a hidden name: ignored like any dot file
    (layout.landing / "escape.log").symlink_to(outside / "secret.log")
    (layout.landing / "escape-dir").symlink_to(outside)
    (layout.landing / "dangling.log").symlink_to(tmp_path / "nowhere.log")
    (layout.landing / "alias.log").symlink_to(layout.landing / "ok.log")  # inside: an alias
    os.mkfifo(layout.landing / "pipe.log")
    with open(os.path.join(os.fsencode(layout.landing), b"caf\xe9.log"), "wb") as f:
        f.write(LINE * 7)

    opened: list[Path] = []
    real_open = sensors._open_for_hashing

    def spy(path: Path) -> int:
        opened.append(path)
        return real_open(path)

    monkeypatch.setattr(sensors, "_open_for_hashing", spy)
    tick = Ticks(landing_files_sensor, instance, layout)
    tick(), tick()
    assert sorted(tick.requested) == ["ok.log", "x..y.log"]
    landing = layout.landing.resolve()
    assert opened and all(p.is_relative_to(landing) for p in opened)
    skipped = tick.state["skipped"]
    assert {k for k, v in skipped.items() if v[0] == "unsafe"} == {
        "alias.log",
        "a...b.log",
        "bell\x07.log",
        "x\\..\\y.log",
        "escape.log",
        "escape-dir",
        "dangling.log",
        "pipe.log",
        os.fsdecode(b"caf\xe9.log"),
    }
    err = capfd.readouterr().err
    assert "skipping 'escape.log': symlink points outside the landing folder" in err
    assert "not valid UTF-8" in err and "partition range" in err
    assert tick() == []
    assert "skipping" not in capfd.readouterr().err  # logged once, not on every tick


def test_unreadable_folders_and_files_are_skipped_and_retried_when_readable(
    instance, layout, monkeypatch, capfd
):
    # The tests run as root, which reads anything: permission errors are injected at the two seams.
    land(layout, "locked/inside.log")
    land(layout, "secret.log", LINE * 2)
    real_scandir, real_open = sensors._scandir, sensors._open_for_hashing

    def scandir(path: Path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    def open_for_hashing(path: Path) -> int:
        if path.name == "secret.log":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path)

    monkeypatch.setattr(sensors, "_scandir", scandir)
    monkeypatch.setattr(sensors, "_open_for_hashing", open_for_hashing)
    monkeypatch.setattr(sensors, "_is_readable", lambda path: False)
    tick = Ticks(landing_files_sensor, instance, layout)
    assert tick() == [] and tick() == [] and tick() == []
    err = capfd.readouterr().err
    assert "skipping 'locked/': folder cannot be listed (Permission denied)" in err
    assert "skipping 'secret.log': cannot be read" in err
    assert tick.state["skipped"]["secret.log"][0] == "unreadable"

    monkeypatch.setattr(sensors, "_scandir", real_scandir)
    monkeypatch.setattr(sensors, "_open_for_hashing", real_open)
    monkeypatch.setattr(sensors, "_is_readable", lambda path: True)
    assert tick() == []
    assert sorted(tick()) == ["locked/inside.log", "secret.log"]


def test_a_corrupt_cursor_starts_over_without_failing(instance, layout, capfd):
    tick = Ticks(landing_files_sensor, instance, layout)
    land(layout, "a.log")
    tick.cursor = "{not json"
    assert tick() == []
    assert "unreadable cursor" in capfd.readouterr().err
    assert tick() == ["a.log"]


def test_odd_files_are_requested_and_ingested_with_every_line_accounted_for(instance, layout, defs):
    lines = LINE * 3 + b'{"ts": "2026-11-20T10:01:00Z", "ip": "192.0.2.9", "path": "/\n'  # 1 bad line
    land(layout, "empty.log", b"")
    land(layout, "binary.bin", bytes(range(256)) * 8)
    land(layout, "truncated.log.gz", gzip.compress(lines * 50)[:-30])
    land(layout, "spaced ünïcødé ☀ name.log", lines)
    land(
        layout,
        "long-line.log",
        b'{"ts": "2026-11-20T10:00:00Z", "path": "/' + b"x" * (1 << 20) + b'"}\n' + LINE,
    )
    tick = Ticks(landing_files_sensor, instance, layout)
    tick()
    keys = sorted(tick())
    assert keys == sorted(
        ["empty.log", "binary.bin", "truncated.log.gz", "spaced ünïcødé ☀ name.log", "long-line.log"]
    )

    job = defs.resolve_job_def("ingest_log_file")
    for key in keys:
        result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks[LINES_RECONCILE].passed, (key, checks[LINES_RECONCILE].metadata)
        # Odd files made of mostly bad bytes or of one line repeated across files: only the quarantine
        # share, duplicate-event and damaged-stream checks may object, every line is accounted for.
        objections = {name for name, e in checks.items() if not e.passed}
        assert objections <= {"quarantine_share", "no_duplicate_events", "readable_and_hashed"}, key
    days = {
        r.partition_key: r.asset_materialization.metadata["days"].value
        for r in instance.fetch_materializations(EVENTS, limit=10).records
    }
    assert days["empty.log"] == [] and days["spaced ünïcødé ☀ name.log"] == ["2026-11-20"]

    # a sensor switched on later (no cursor) knows the ingested content from raw/log_files
    land(layout, "binary again.bin", bytes(range(256)) * 8)
    fresh = Ticks(landing_files_sensor, instance, layout)
    assert fresh() == [] and fresh() == []
    assert fresh.state["skipped"]["binary again.bin"][0] == "duplicate"


def _forty_events() -> bytes:
    """40 distinct JSON lines, one event each (counted by hand: 40)."""
    return b"".join(
        b'{"ts": "2026-11-20T10:%02d:00Z", "ip": "192.0.2.%d", "path": "/p/%d", "status": 200}\n' % (i, i, i)
        for i in range(40)
    )


def _lake_events(layout: DataLayout, source_file: str) -> int:
    import duckdb

    fragments = [str(p) for day in layout.event_days() for p in layout.day_fragments(day)]
    if not fragments:
        return 0
    query = "SELECT count(*) FROM read_parquet(?) WHERE source_file = ?"
    with duckdb.connect() as con:  # a private connection: the default one is shared by the process
        return con.execute(query, [fragments, source_file]).fetchall()[0][0]


def test_a_file_renamed_after_its_request_lands_under_its_new_name(instance, layout, defs):
    tick = Ticks(landing_files_sensor, instance, layout)
    land(layout, "a.log", _forty_events())
    tick()
    assert tick() == ["a.log"]
    (request,) = tick.run_requests
    os.rename(layout.landing / "a.log", layout.landing / "b.log")  # before the run reads it

    job = defs.resolve_job_def("ingest_log_file")
    failed = job.execute_in_process(
        partition_key="a.log", instance=instance, tags=request.tags, raise_on_error=False
    )
    assert not failed.success  # a.log is gone
    assert tick() == []  # b.log first seen
    assert tick() == ["b.log"]  # same content, but its only run failed and landed nothing
    assert "b.log" not in tick.state["skipped"]
    (request,) = tick.run_requests
    landed = job.execute_in_process(partition_key="b.log", instance=instance, tags=request.tags)
    assert landed.success
    assert _lake_events(layout, "b.log") == 40
    # now the content has landed: another copy is a duplicate again
    land(layout, "c.log", _forty_events())
    assert tick() == [] and tick() == []
    assert tick.state["skipped"]["c.log"][0] == "duplicate"


def test_a_copy_waits_while_the_run_of_its_content_is_in_flight(instance, layout, defs):
    tick = Ticks(landing_files_sensor, instance, layout)
    land(layout, "a.log", _forty_events())
    tick()
    assert tick() == ["a.log"]
    (request,) = tick.run_requests
    job = defs.resolve_job_def("ingest_log_file")
    # the run is queued, not yet executed: its content is in flight
    run = instance.create_run_for_job(job, run_config={}, tags={**request.tags, "dagster/partition": "a.log"})
    os.rename(layout.landing / "a.log", layout.landing / "b.log")
    assert tick() == [] and tick() == []
    assert "b.log" in tick.state["pending"]  # neither requested nor skipped: waiting for the run
    instance.report_run_failed(run)
    assert tick() == ["b.log"]


def test_a_hard_link_to_a_file_outside_landing_is_ingested_as_an_ordinary_file(instance, layout, defs):
    """Decision (module docstring): a hard link is a file in landing, as a copy would be."""
    outside = layout.root / "outside.log"
    outside.write_bytes(_forty_events())
    os.link(outside, layout.landing / "linked.log")
    tick = Ticks(landing_files_sensor, instance, layout)
    tick()
    assert tick() == ["linked.log"]
    job = defs.resolve_job_def("ingest_log_file")
    assert job.execute_in_process(partition_key="linked.log", instance=instance).success
    assert _lake_events(layout, "linked.log") == 40
    assert outside.read_bytes() == _forty_events()  # read, never written or moved


def test_the_cursor_stays_bounded_and_the_instance_remembers_older_content(layout):
    """2,000 ingested files: the cursor keeps the content of the most recent ones only (about 19
    bytes each, at most ``max_remembered_hashes``); a copy of the first file, long out of the
    cursor, is found through the runs requested for its content and not requested again."""
    runs: dict[str, list[tuple[str, dg.DagsterRunStatus]]] = {}  # the instance's, faked
    config = sensors.LandingSensorConfig(max_files_per_tick=500)
    cursor, requested, now = sensors.LandingCursor(), set(), time.time()
    for i in range(2000):
        land(layout, f"many/{i // 500}/file-{i:04d}.log", LINE.replace(b"/product/1", f"/p/{i}".encode()))

    def tick() -> list[str]:
        nonlocal cursor, now
        now += 60
        plan = sensors.plan_tick(
            layout, cursor, requested, config, now, logging.getLogger("test"), lambda d: runs.get(d, [])
        )
        for key, digest in plan.requests:  # the daemon adds the partition; the run lands the file
            requested.add(key)
            runs.setdefault(digest, []).append((key, dg.DagsterRunStatus.SUCCESS))
        cursor = plan.cursor
        return [key for key, _ in plan.requests]

    counts = [len(tick()) for _ in range(6)]
    assert counts == [0, 500, 500, 500, 500, 0] and len(requested) == 2000
    assert len(cursor.sha256) == config.max_remembered_hashes == 1_000
    assert len(cursor.to_json()) < 20_000  # was one hash per file ever ingested
    first = LINE.replace(b"/product/1", b"/p/0")
    assert hashlib.sha256(first).hexdigest()[:16] not in cursor.sha256
    land(layout, "copy-of-first.log", first)
    assert tick() == [] and tick() == []
    assert cursor.skipped["copy-of-first.log"][0] == "duplicate"
