"""A landed file's lake output is published as ONE unit through the lake catalog: killed or failing
at any step, readers see the previous complete generation or the new one, never a mix; a re-run
gives exact counts and leaves no file behind; the same bytes under a second name publish nothing;
a lake written before the catalog is adopted; a full disk publishes nothing and says so.

Expected counts come from the hand-written lines or the generator's tallies, and what readers see
is counted from the Parquet footers of the files they list, not from the ingest's result.
"""

import datetime as dt
import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from platform_assets.engines.base import LakeDays
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.layers.lake.checks import no_duplicate_events
from platform_assets.lib import lake_catalog
from platform_assets.lib.atomic import staging_dir
from platform_assets.lib.lake_catalog import DuplicateContentError, LakeCatalog, LakeStorageError
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets_tests.checks_support import (
    build_days,
    check_run,
    evaluations,
    ingest,
    jsonl_event,
    values,
)
from platform_assets_tests.faults.support import REPO, env, wait_for


def _lines(spec: dict[str, int], bad: int, tag: str) -> list[str]:
    """``spec[day]`` events on each day (distinct per ``tag``), then ``bad`` unparseable lines."""
    out = [
        jsonl_event(
            f"{day}T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", ip=f"192.0.2.{i % 200}", path=f"/{tag}"
        )
        for day, n in spec.items()
        for i in range(n)
    ]
    return out + [f"not a log line {tag} {i}" for i in range(bad)]


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def seen(layout: DataLayout, fid: str) -> tuple[dict[str, int], int]:
    """What readers see of one file: events per day (footer row counts of the listed fragments)
    and quarantined rows."""
    days: Counter[str] = Counter()
    for path in layout.fragments_of(fid):
        days[path.parent.name.removeprefix("date=")] += pq.ParquetFile(path).metadata.num_rows
    quarantine = layout.quarantine_file(fid)
    return dict(days), pq.ParquetFile(quarantine).metadata.num_rows if quarantine.exists() else -1


def lake_files(layout: DataLayout) -> set[Path]:
    """Every Parquet file on disk under the lake (what a folder listing would find)."""
    return set(layout.lake.glob("events/*/*.parquet")) | set(layout.lake.glob("quarantine/*.parquet"))


def catalogued(layout: DataLayout) -> set[Path]:
    catalog = layout.catalog
    files = {f.path for f in catalog.fragments(withheld=True)}
    return files | {catalog.current(f.fid).quarantine for f in catalog.fragments(withheld=True)}


def assert_clean(layout: DataLayout) -> None:
    """Nothing on disk but the catalog's current files; no staging folder left in tmp/."""
    assert lake_files(layout) == catalogued(layout)
    assert not list(layout.tmp.glob(".ingest-*"))


V1 = ({"2026-04-01": 30, "2026-04-02": 20}, 1)  # two days and one bad line
V2 = ({"2026-04-01": 40, "2026-04-03": 10}, 2)  # a day kept, one dropped, one new; two bad lines


# -- failing at each step of publication ------------------------------------------------------


def _fail_at(monkeypatch, step: str) -> None:
    """Raise at one step of :func:`lake_catalog.publish_ingest`."""
    if step.startswith("move"):
        wanted, calls, real = int(step[-1]), [0], os.replace

        def replace(src, dst, *args, **kwargs):
            if "lake" in Path(dst).parts:
                calls[0] += 1
                if calls[0] == wanted:
                    raise OSError(f"injected failure at {step}")
            return real(src, dst, *args, **kwargs)

        monkeypatch.setattr(lake_catalog.os, "replace", replace)
    elif step == "commit":

        def commit(self, **kwargs):
            raise OSError("injected failure at commit")

        monkeypatch.setattr(LakeCatalog, "commit", commit)
    else:  # after the commit, deleting the previous generation
        real_unlink = Path.unlink

        def unlink(self, missing_ok=False):
            if "lake" in self.parts and "__" in self.name:
                raise OSError("injected failure deleting the previous generation")
            return real_unlink(self, missing_ok=missing_ok)

        monkeypatch.setattr(Path, "unlink", unlink)


@pytest.mark.parametrize("step", ["move1", "move2", "move3", "commit", "cleanup"])
def test_a_failure_at_any_publication_step_shows_one_whole_generation(engine, layout, monkeypatch, step):
    path, fid = layout.landing / "two-days.jsonl", file_id("two-days.jsonl")
    _write(path, _lines(V1[0], V1[1], "v1"))
    engine.ingest_log_file(str(path), "two-days.jsonl", fid)
    assert seen(layout, fid) == V1
    _write(path, _lines(V2[0], V2[1], "v2"))

    with monkeypatch.context() as patch:
        _fail_at(patch, step)
        with pytest.raises(OSError, match="injected"):
            engine.ingest_log_file(str(path), "two-days.jsonl", fid)
    # before the commit: v1 exactly, and nothing of v2 on disk; after it: v2 exactly
    assert seen(layout, fid) == (V2 if step == "cleanup" else V1)
    if step != "cleanup":
        assert_clean(layout)

    engine.ingest_log_file(str(path), "two-days.jsonl", fid)
    engine.ingest_log_file(str(path), "two-days.jsonl", fid)  # idempotent
    assert seen(layout, fid) == V2
    assert layout.day_fragments("2026-04-02") == []
    assert_clean(layout)


# -- a real SIGKILL in the middle of ingesting a large multi-day file ----------------------------

_INGEST = """
import os, signal, sys
from pathlib import Path
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib import lake_catalog

data_dir, path, fid, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
real, moves = os.replace, [0]

def replace(src, dst, *args, **kwargs):  # SIGKILL before the kill_at-th move into the lake
    if "lake" in Path(dst).parts:
        moves[0] += 1
        if moves[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)

lake_catalog.os.replace = replace
DuckDBEngine(data_dir=data_dir, memory_limit="1GB", threads=2).ingest_log_file(path, "big.jsonl", fid)
"""


def test_sigkill_during_ingest_leaves_a_whole_generation_and_the_rerun_is_exact(layout, tmp_path):
    """SIGKILLed before the 2nd and the 4th (quarantine) move into the lake, and at random
    moments, the lake shows the previous complete version or the new one; the next ingest is
    exact and leaves nothing behind."""
    fid, path = file_id("big.jsonl"), layout.landing / "big.jsonl"
    old = ({"2026-05-01": 40_000, "2026-05-02": 40_000, "2026-05-03": 40_000}, 5)
    new = ({"2026-05-02": 45_000, "2026-05-03": 30_000, "2026-05-04": 35_000}, 7)
    old_bytes = "".join(line + "\n" for line in _lines(*old, "old")).encode()
    new_bytes = "".join(line + "\n" for line in _lines(*new, "new")).encode()
    engine = DuckDBEngine(data_dir=str(layout.root), memory_limit="1GB", threads=2)
    path.write_bytes(old_bytes)
    engine.ingest_log_file(str(path), "big.jsonl", fid)
    assert seen(layout, fid) == old
    path.write_bytes(new_bytes)

    environ = env(tmp_path / "home")
    rng, outcomes = random.Random(13), []
    for kill_at in (2, 4, 0, 0, 0):
        command = [sys.executable, "-c", _INGEST, str(layout.root), str(path), fid, str(kill_at)]
        proc = subprocess.Popen(command, env=environ, cwd=REPO, stderr=subprocess.PIPE)
        if not kill_at:
            wait_for(lambda: False, proc, timeout=rng.uniform(0.3, 3.0))
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=120)
        state = seen(layout, fid)
        # a random kill may come after a fast ingest ended: then it must have published whole
        finished = not kill_at and code == 0 and state == new
        assert code == -signal.SIGKILL or finished, proc.stderr.read().decode()[-2000:]
        assert state in (old, new), f"kill_at={kill_at}: readers see a mix: {state}"
        outcomes.append("new" if state == new else "old")
        if kill_at:  # moved into the lake but not catalogued: on disk, invisible to readers
            assert lake_files(layout) - catalogued(layout)
        if state == new:  # published before the kill: start again from the old version
            path.write_bytes(old_bytes)
            engine.ingest_log_file(str(path), "big.jsonl", fid)
            path.write_bytes(new_bytes)
    assert outcomes[:2] == ["old", "old"], outcomes

    engine.ingest_log_file(str(path), "big.jsonl", fid)
    assert seen(layout, fid) == new
    assert_clean(layout)


# -- duplicates -----------------------------------------------------------------------------------


def test_the_same_bytes_under_a_second_name_publish_nothing_and_the_day_counts_once(defs, layout):
    day = "2026-04-05"
    events = [jsonl_event(f"{day}T10:{m:02d}:00Z", ip="192.0.2.9") for m in range(25)]
    _write(layout.landing / "a.jsonl", events)
    _write(layout.landing / "again" / "b.jsonl", events)
    with dg.instance_for_test() as instance:
        assert ingest(defs, instance, "a.jsonl").success
        second = ingest(defs, instance, "again/b.jsonl")
        assert not second.success
        failure = "\n".join(
            e.event_specific_data.error.to_string()
            for e in second.all_events
            if e.event_type_value == "STEP_FAILURE"
        )
        assert "'again/b.jsonl' has the same content" in failure and "'a.jsonl'" in failure
        assert layout.catalog.current(file_id("again/b.jsonl")) is None
        assert not [p for p in lake_files(layout) if p.name.startswith(file_id("again/b.jsonl"))]

        built = build_days(defs, instance, day)
        assert built.success
        lake_counts = [
            values(e)["lake_events"] for e in evaluations(built).values() if "lake_events" in values(e)
        ]
        assert lake_counts and set(lake_counts) == {25}


def test_the_same_key_reingested_is_not_a_duplicate(engine, layout):
    path = _write(layout.landing / "same.jsonl", _lines({"2026-04-06": 7}, 0, "s"))
    for _ in range(2):
        engine.ingest_log_file(str(path), "same.jsonl", file_id("same.jsonl"))
    assert seen(layout, file_id("same.jsonl")) == ({"2026-04-06": 7}, 0)


def test_a_catalog_refusal_names_both_keys(engine, layout):
    lines = _lines({"2026-04-07": 3}, 0, "d")
    first = _write(layout.landing / "first.jsonl", lines)
    second = _write(layout.landing / "second.jsonl", lines)
    engine.ingest_log_file(str(first), "first.jsonl", file_id("first.jsonl"))
    with pytest.raises(
        DuplicateContentError, match=r"'second.jsonl' has the same content .* as 'first.jsonl'"
    ):
        engine.ingest_log_file(str(second), "second.jsonl", file_id("second.jsonl"))
    assert_clean(layout)


def test_a_file_failing_the_duplicate_check_is_withheld_from_day_builds(defs, engine, layout):
    """The same events in other bytes (recompressed) pass the catalog; the check catches them and
    withholds the copy, so day readers count each event once; re-ingesting publishes it again."""
    day = "2026-04-08"
    lines = _lines({day: 12}, 0, "w")
    original = _write(layout.landing / "orig.jsonl", lines)
    copy = layout.landing / "orig-copy.jsonl.gz"
    copy.write_bytes(gzip.compress(original.read_bytes()))
    engine.ingest_log_file(str(original), "orig.jsonl", file_id("orig.jsonl"))
    engine.ingest_log_file(str(copy), "orig-copy.jsonl.gz", file_id("orig-copy.jsonl.gz"))
    assert len(layout.day_fragments(day)) == 2

    with dg.instance_for_test() as instance:
        run = check_run(defs, instance)
        result = no_duplicate_events.evaluate(run, "orig-copy.jsonl.gz")
        assert not result.passed and values(result)["duplicate_events"] == 12 and values(result)["withheld"]
        assert no_duplicate_events.evaluate(run, "orig.jsonl").passed  # the copy no longer counts
        run.close()
    assert layout.day_fragments(day) == layout.fragments_of(file_id("orig.jsonl"))
    with engine.connect() as con:
        engine._create_view(
            con, "day", LakeDays("events", dt.date.fromisoformat(day), dt.date.fromisoformat(day))
        )
        assert con.execute("SELECT count(*) FROM day").fetchone()[0] == 12
    # the copy's own checks still see its fragments
    assert seen(layout, file_id("orig-copy.jsonl.gz")) == ({day: 12}, 0)
    engine.ingest_log_file(str(copy), "orig-copy.jsonl.gz", file_id("orig-copy.jsonl.gz"))
    assert len(layout.day_fragments(day)) == 2


# -- leftovers, concurrency, adoption -------------------------------------------------------------


def test_files_of_a_live_writer_are_kept_and_of_a_dead_one_swept(layout):
    catalog, fid = layout.catalog, "f-000000000000"
    folder = layout.day_dir("2026-04-09")
    folder.mkdir(parents=True)
    with staging_dir(layout.tmp, "ingest") as stage:
        generation = catalog.reserve(fid, stage)
        mine = folder / f"{fid}__{generation}.parquet"
        mine.write_bytes(b"half")
        stray = folder / f"{fid}__{generation + 1000}.parquet"  # no reservation: a dead writer's
        stray.write_bytes(b"x")
        assert catalog.sweep(fid) == [stray]
        assert mine.exists() and layout.day_fragments("2026-04-09") == []
    assert catalog.sweep() == [mine]


def test_a_lake_written_before_the_catalog_is_adopted_once(engine, layout, tmp_path):
    path = _write(layout.landing / "legacy.jsonl", _lines(V1[0], V1[1], "l"))
    fid = file_id("legacy.jsonl")
    engine.ingest_log_file(str(path), "legacy.jsonl", fid)
    # rewrite it as the previous version did: <fid>__0.parquet per day, quarantine/<fid>.parquet
    for fragment in layout.fragments_of(fid):
        fragment.rename(fragment.with_name(f"{fid}__0.parquet"))
    layout.quarantine_file(fid).rename(layout.quarantine / f"{fid}.parquet")
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (layout.lake / name).unlink(missing_ok=True)

    seen_by = []
    threads = [threading.Thread(target=lambda: seen_by.append(seen(layout, fid))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen_by == [V1] * 4
    assert layout.event_days() == [dt.date(2026, 4, 1), dt.date(2026, 4, 2)]
    assert layout.catalog.current(fid).source_file == "legacy.jsonl"

    _write(path, _lines(V2[0], V2[1], "l2"))
    engine.ingest_log_file(str(path), "legacy.jsonl", fid)
    assert seen(layout, fid) == V2
    assert (
        not list(layout.lake.glob(f"**/{fid}__0.parquet"))
        and not (layout.quarantine / f"{fid}.parquet").exists()
    )
    assert_clean(layout)


# -- disk full -------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs as the data directory (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (mount -t tmpfs -o size=2m)")
    root = tmp_path / "small"
    root.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_disk_publishes_nothing_and_the_next_run_is_exact(small_disk):
    layout = DataLayout(small_disk).ensure()
    engine = DuckDBEngine(data_dir=str(small_disk), memory_limit="256MB", threads=1)
    fid, path = file_id("full.jsonl"), layout.landing / "full.jsonl"
    _write(path, _lines(V1[0], V1[1], "f1"))
    engine.ingest_log_file(str(path), "full.jsonl", fid)
    new = ({"2026-04-01": 1500, "2026-04-03": 900}, 3)
    _write(path, _lines(new[0], new[1], "f2"))
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(free - 8 * 1024, 0))

    with pytest.raises(
        LakeStorageError, match=rf"no space left on device in the data directory {small_disk}"
    ):
        engine.ingest_log_file(str(path), "full.jsonl", fid)
    assert seen(layout, fid) == V1
    assert_clean(layout)

    filler.unlink()
    engine.ingest_log_file(str(path), "full.jsonl", fid)
    assert seen(layout, fid) == new
    assert_clean(layout)
