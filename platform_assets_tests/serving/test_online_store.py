"""The online store: immutable day files, a pointer that only moves forward, a reader that follows
it without a restart, refuses a file that is not what the pointer says, and never sees half a day."""

import datetime as dt
import threading

import pytest

from platform_assets.serving.online_store import OnlineStore, StoreUnavailable, read_pointer, store_root
from platform_assets_tests.serving.support import history, publish

ROW = ("u1", "s1", dt.date(2026, 3, 1), dt.datetime(2026, 3, 1, 9), 1, 3)


def _count(store: OnlineStore) -> int:
    cursor = store.current().cursor()
    return cursor.execute("SELECT count(*) FROM visitor_history").fetchone()[0]


def test_nothing_published_is_not_ready(tmp_path):
    with pytest.raises(StoreUnavailable, match="no day published"):
        OnlineStore(store_root(tmp_path)).current()


def test_the_pointer_moves_to_a_newer_day_only(tmp_path):
    assert publish(tmp_path, "2026-03-02", [ROW]).current
    assert not publish(tmp_path, "2026-03-01", [ROW, ROW]).current  # a rebuilt older day
    assert read_pointer(store_root(tmp_path))["day"] == "2026-03-02"
    assert publish(tmp_path, "2026-03-03", []).current


def test_the_reader_follows_a_new_day_without_a_restart(tmp_path):
    publish(tmp_path, "2026-03-01", [ROW])
    store = OnlineStore(store_root(tmp_path))
    assert (store.current().day, _count(store)) == (dt.date(2026, 3, 1), 1)
    publish(tmp_path, "2026-03-02", [ROW])  # the same rows: a new day all the same
    assert store.current().day == dt.date(2026, 3, 2)
    publish(tmp_path, "2026-03-03", [ROW, ("u2", *ROW[1:])])
    assert (store.current().day, _count(store)) == (dt.date(2026, 3, 3), 2)


def test_a_file_that_does_not_match_the_pointer_is_refused_and_the_last_good_day_kept(tmp_path):
    publish(tmp_path, "2026-03-01", [ROW])
    store = OnlineStore(store_root(tmp_path))
    assert store.current().day == dt.date(2026, 3, 1)
    published = publish(tmp_path, "2026-03-02", [ROW, ROW])
    published.path.write_bytes(published.path.read_bytes()[:-10])  # damaged after publication
    assert store.current().day == dt.date(2026, 3, 1)
    assert "does not match" in store.error
    fresh = OnlineStore(store_root(tmp_path))
    with pytest.raises(StoreUnavailable, match="does not match"):
        fresh.current()


def test_rows_of_another_shape_are_refused(tmp_path):
    with pytest.raises(ValueError, match="columns"):
        from platform_assets.serving.online_store import publish_day

        publish_day(store_root(tmp_path), "2026-03-01", history([ROW]).drop(["page_views"]))


def test_a_reader_never_sees_half_a_day_while_days_are_published(tmp_path):
    """Each day's file holds as many rows as its day number: a reader must always see a count that
    matches the day it reports, while a writer publishes 30 days."""
    publish(tmp_path, "2026-03-01", [ROW])
    store = OnlineStore(store_root(tmp_path))
    seen, problems, done = set(), [], threading.Event()

    def read():
        while not done.is_set():
            try:
                snapshot = store.current()
                rows = snapshot.cursor().execute("SELECT count(*) FROM visitor_history").fetchone()[0]
                if rows != snapshot.day.day:
                    problems.append((snapshot.day, rows))
                seen.add(snapshot.day)
            except Exception as error:
                problems.append(repr(error))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for day in range(2, 31):
        publish(tmp_path, f"2026-03-{day:02d}", [(f"u{i}", *ROW[1:]) for i in range(day)])
    done.set()
    for reader in readers:
        reader.join()
    assert problems == []
    assert store.current().day == dt.date(2026, 3, 30) and len(seen) > 1
    assert len(list(store_root(tmp_path).glob("*.parquet"))) <= 4  # old days pruned
