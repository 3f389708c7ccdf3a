"""The decision log: every appended line lands, in whole files, whatever stops the writer."""

import json
import subprocess
import sys
import threading
import time

import pytest

from platform_assets.lib.decision_log import FOLDER, DecisionLog, recover_abandoned
from platform_assets.lib.layout import DataLayout


def _landed_lines(landing):
    """Every line of the published (not hidden) decision files, by file."""
    return {p.name: p.read_bytes().splitlines() for p in sorted((landing / FOLDER).glob("decisions-*"))}


def test_lines_rotate_into_whole_published_files_the_landing_folder_lists(tmp_path):
    layout = DataLayout(tmp_path).ensure()
    log = DecisionLog(layout.landing, max_lines=3, max_seconds=3600)
    records = [{"decision_id": f"d{i}", "probability": i / 10, "arm": "champion"} for i in range(10)]
    for record in records[:4]:
        log.append(record)
    assert len(layout.landed_keys()) == 1  # the open (hidden) file is not a landed file yet
    for record in records[4:]:
        log.append(record)
    log.close()
    files = _landed_lines(layout.landing)
    assert [len(lines) for lines in files.values()] == [3, 3, 3, 1]
    assert [json.loads(line) for lines in files.values() for line in lines] == records
    assert not list((layout.landing / FOLDER).glob(".*"))  # nothing hidden left behind
    assert layout.landed_keys() == [f"{FOLDER}/{name}" for name in files]


def test_a_quiet_server_still_lands_its_decisions(tmp_path):
    log = DecisionLog(tmp_path, max_lines=1000, max_seconds=0.05)
    log.append({"n": 1})
    assert log.rotate_if_due() is None  # not old yet
    time.sleep(0.06)
    published = log.rotate_if_due()
    assert published is not None and published.read_bytes() == b'{"n":1}\n'
    assert log.close() is None  # nothing open any more


def test_concurrent_appends_never_interleave(tmp_path):
    log = DecisionLog(tmp_path, max_lines=700, max_seconds=3600)

    def answer(worker):
        for i in range(500):
            log.append({"worker": worker, "i": i, "pad": "x" * (i % 97)})

    threads = [threading.Thread(target=answer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    rows = [json.loads(line) for lines in _landed_lines(tmp_path).values() for line in lines]
    assert sorted((r["worker"], r["i"]) for r in rows) == [(w, i) for w in range(8) for i in range(500)]


def test_nan_is_refused_not_written(tmp_path):
    log = DecisionLog(tmp_path)
    with pytest.raises(ValueError):
        log.append({"probability": float("nan")})
    log.close()
    assert _landed_lines(tmp_path) == {}


_KILLED_WRITER = """
import os, sys
from platform_assets.lib.decision_log import DecisionLog
log = DecisionLog(sys.argv[1], max_lines=10**6)
for i in range(1000):
    log.append({"i": i})
sys.stdout.write("written\\n"); sys.stdout.flush()
if sys.argv[2] == "hold":
    sys.stdin.readline()
os._exit(1)  # killed: no close, no rotation
"""


def test_a_killed_writers_lines_are_recovered_and_a_live_writers_left_alone(tmp_path):
    live = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(tmp_path), "hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert live.stdout.readline() == "written\n"
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path), "exit"], check=False)
    assert killed.returncode == 1
    assert len(list((tmp_path / FOLDER).glob(".decisions-*"))) == 2
    recovered = recover_abandoned(tmp_path)
    assert len(recovered) == 1  # the live writer still holds its file
    assert [json.loads(line)["i"] for line in recovered[0].read_bytes().splitlines()] == list(range(1000))
    live.communicate("go\n")
    assert len(recover_abandoned(tmp_path)) == 1  # its file, now that it died
    assert sum(len(lines) for lines in _landed_lines(tmp_path).values()) == 2000
