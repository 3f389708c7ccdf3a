"""Keys and dates are validated before they become paths; nothing resolves outside landing."""

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.lib.atomic import staging_dir
from platform_assets.lib.layout import UnsafePathError, file_id, validate_day, validate_file_key


@pytest.mark.parametrize("key", ["a.log", "2026/11/access log.jsonl.gz", "données/été ☀.log", "x..y.log"])
def test_acceptable_keys(key):
    assert validate_file_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../x.log",
        "a/../../x.log",
        "a//b.log",
        "./a.log",
        ".hidden.log",
        "dir/.part/x.log",
        "a.log.part",
        "a.log.tmp",
        "a\nb.log",
        "a\\b.log",
        "x" * 600,
    ],
)
def test_unsafe_keys_are_refused(key):
    with pytest.raises(UnsafePathError):
        validate_file_key(key)


def test_file_ids_are_storage_safe_and_distinct():
    ids = {file_id(k) for k in ["a b.log", "a_b.log", "a/b.log", "日本.log", "a'; DROP TABLE x;--.log"]}
    assert len(ids) == 5
    assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") for i in ids)


@pytest.mark.parametrize("value", ["2026-1-01", "2026-13-01", "20261101", "2026-11-01' OR 1=1", "../x"])
def test_bad_days_are_refused(value):
    with pytest.raises(ValueError):
        validate_day(value)


def test_symlinks_leaving_landing_are_refused_and_skipped(layout, tmp_path):
    outside = tmp_path / "secret.log"
    outside.write_text("secret\n")
    os.symlink(outside, layout.landing / "link.log")
    inside = layout.landing / "real.log"
    inside.write_text("x\n")
    os.symlink(inside, layout.landing / "alias.log")
    (layout.landing / "incoming.log.part").write_text("half")
    (layout.landing / ".hidden").write_text("h")
    with pytest.raises(UnsafePathError):
        layout.landed_path("link.log")
    assert layout.landed_keys() == ["alias.log", "real.log"]


def test_lake_readers_list_only_the_catalogs_current_files(layout):
    """Folders hold files no reader may see (an unfinished ingest's, a previous generation's):
    the readers list what the catalog commits, by day and by file, and nothing else."""
    catalog = layout.catalog
    day = layout.day_dir("2026-02-01")
    day.mkdir(parents=True)
    table = pa.table(
        {"ts": pa.array([dt.datetime(2026, 2, 1, 12)], pa.timestamp("us")), "source_file": ["k"]}
    )
    for name in ("f-1__3.parquet", "f-1__4.parquet", "g-2__5.parquet"):
        pq.write_table(table, day / name)
    pq.write_table(table, layout.quarantine / "f-1__4.parquet")
    assert layout.day_fragments("2026-02-01") == [] and layout.event_days() == []

    with staging_dir(layout.tmp, "ingest") as stage:
        generation = catalog.reserve("f-1", stage)
    catalog.commit(
        fid="f-1",
        source_file="k",
        generation=generation,
        sha256="0" * 64,
        lines=1,
        quarantined=1,
        quarantine=layout.quarantine / "f-1__4.parquet",
        fragments=[("2026-02-01", day / "f-1__4.parquet", 1)],
    )
    assert layout.day_fragments("2026-02-01") == layout.fragments_of("f-1") == [day / "f-1__4.parquet"]
    assert layout.quarantine_file("f-1") == layout.quarantine / "f-1__4.parquet"
    assert layout.event_days() == [dt.date(2026, 2, 1)]
    assert layout.fragments_of("g-2") == []
    assert catalog.sweep() == [day / "f-1__3.parquet", day / "g-2__5.parquet"]
