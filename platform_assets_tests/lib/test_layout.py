"""Keys and dates are validated before they become paths; nothing resolves outside landing."""

import os

import pytest

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
