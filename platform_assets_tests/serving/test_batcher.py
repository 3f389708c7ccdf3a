"""Micro-batching: concurrent requests are answered together, each gets its own answer, a request
that fails its batch fails alone, and a batch's feature rows equal the same requests' rows one by
one (expected values in test_feature_sql.py and test_skew.py are computed apart from this)."""

import datetime as dt
import threading
import time

import pytest

from platform_assets.serving.batcher import Batcher
from platform_assets.serving.online_store import load_snapshot, read_pointer, store_root
from platform_assets.serving.served_features import SessionStart, served_features, served_features_batch
from platform_assets_tests.serving.support import publish

pytestmark = pytest.mark.unit


def _submit_all(batcher: Batcher, items: list) -> dict:
    results, threads = {}, []

    def ask(item):
        try:
            results[item] = batcher.submit(item)
        except Exception as error:
            results[item] = error

    for item in items:
        threads.append(threading.Thread(target=ask, args=(item,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    return results


def test_waiting_requests_are_answered_in_one_batch_each_with_its_own_result():
    seen: list[list[int]] = []
    gate = threading.Event()

    def handle(items):
        gate.wait(5)  # the first batch holds the worker while the others queue up
        seen.append(list(items))
        return [item * 10 for item in items]

    batcher = Batcher(handle, max_batch=64)
    first = threading.Thread(target=batcher.submit, args=(0,))
    first.start()
    time.sleep(0.2)
    waiting = threading.Thread(target=lambda: _submit_all(batcher, list(range(1, 21))))
    waiting.start()
    time.sleep(0.3)
    gate.set()
    waiting.join()
    first.join()
    assert seen[0] == [0] and sorted(seen[1]) == list(range(1, 21))  # 20 requests, one call
    assert _submit_all(batcher, [5, 6]) == {5: 50, 6: 60}
    batcher.close()


def test_a_request_that_fails_its_batch_fails_alone():
    def handle(items):
        if 13 in items:
            raise ValueError("unlucky")
        return [item + 1 for item in items]

    gate = threading.Event()
    batcher = Batcher(lambda items: (gate.wait(5), handle(items))[1], max_batch=64)
    holder = threading.Thread(target=batcher.submit, args=(0,))
    holder.start()
    time.sleep(0.2)
    results = {}
    asking = threading.Thread(target=lambda: results.update(_submit_all(batcher, [11, 12, 13, 14])))
    asking.start()
    time.sleep(0.3)
    gate.set()
    asking.join()
    holder.join()
    assert {k: v for k, v in results.items() if k != 13} == {11: 12, 12: 13, 14: 15}
    assert isinstance(results[13], ValueError)
    batcher.close()


def test_a_batch_of_sessions_has_the_rows_each_would_have_alone(tmp_path):
    day = dt.date(2026, 3, 10)
    publish(
        tmp_path,
        "2026-03-10",
        [
            ("u1", "s1", day - dt.timedelta(days=3), dt.datetime(2026, 3, 7, 9, 0), 1, 4),
            ("u1", "s2", day, dt.datetime(2026, 3, 10, 10, 0), 0, 2),
            ("u2", "s5", day, dt.datetime(2026, 3, 10, 8, 0), 1, 3),
        ],
    )
    snapshot = load_snapshot(store_root(tmp_path), read_pointer(store_root(tmp_path)))
    t = dt.datetime(2026, 3, 10, 12)
    sessions = [
        SessionStart("u1", t, "/product/1", "https://www.google.com/", "Mozilla/5.0 (X11; Linux x86_64)"),
        # the same visitor again, later: the first request is no earlier session of this one
        SessionStart("u1", t + dt.timedelta(hours=1), "/", None, None, "mobile", "FR"),
        SessionStart("u2", t, "/cart", None, "Googlebot/2.1 (+http://www.google.com/bot.html)"),  # a bot
        SessionStart("anon-00000000000000aa", t, "/search?q=x", "https://t.co/x", None, "tablet", "US"),
    ]
    batch = served_features_batch(snapshot, sessions)
    assert list(batch.index) == [0, 1, 3]  # no row for the bot
    assert list(batch["prior_sessions_28d"]) == [2, 2, 0]
    for position in batch.index:
        alone = served_features(snapshot, sessions[position])
        assert (
            batch.loc[[position]]
            .drop(columns="session_id")
            .reset_index(drop=True)
            .equals(alone.drop(columns="session_id"))
        ), position
