"""The prediction server's decision log: one JSON line per answer, landed as rotated files.

Each answer is appended to a hidden file in ``landing/decisions/`` that its writer holds under an
exclusive ``flock``; a full or old file is synced and renamed to its final name
(``decisions-<UTC time>-<pid>-<n>.jsonl``) in one step, so the landing sensor only ever sees whole
files. Every line goes to the operating system as it is written: a killed server loses no line
that it answered, and :func:`recover_abandoned` (run when a server starts) publishes the hidden
files no living process holds, a torn last line included (the lake ingest quarantines it with
its line number, so it is accounted for, not dropped). A graceful stop publishes the open file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_assets.lib.atomic import abandoned

FOLDER = "decisions"
_PREFIX = "decisions-"
_HIDDEN = ".decisions-"
_SUFFIX = ".jsonl"


def is_decision_log(key: str) -> bool:
    """Whether a landed file's key is a decision log (under ``landing/decisions/``), which the
    platform ingests into the decision lake instead of the events lake."""
    return key.startswith(f"{FOLDER}/")


def decision_line(record: Mapping[str, Any]) -> bytes:
    """A record as one JSON line (no NaN or infinity: they are not JSON)."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False, sort_keys=True).encode() + b"\n"


class DecisionLog:
    """Appends decision records under ``landing/decisions`` (thread-safe), rotating by lines and age."""

    def __init__(self, landing: Path | str, *, max_lines: int = 10_000, max_seconds: float = 60.0) -> None:
        if max_lines < 1 or max_seconds <= 0:
            raise ValueError("max_lines and max_seconds must be positive")
        self.folder = Path(landing) / FOLDER
        self.max_lines, self.max_seconds = max_lines, max_seconds
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._fd: int | None = None
        self._path: Path | None = None
        self._lines = 0
        self._opened_at = 0.0
        self.published: list[Path] = []

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one decision (rotating first when the open file is full or too old)."""
        line = decision_line(record)
        with self._lock:
            if self._fd is not None and self._due():
                self._publish()
            if self._fd is None:
                self._open()
            os.write(self._fd, line)
            self._lines += 1

    def rotate_if_due(self) -> Path | None:
        """Publish the open file if it is full or older than ``max_seconds`` (call periodically,
        so a quiet server still lands its decisions)."""
        with self._lock:
            return self._publish() if self._fd is not None and self._due() else None

    def close(self) -> Path | None:
        """Publish the open file (a graceful stop); returns its final path."""
        with self._lock:
            return self._publish() if self._fd is not None else None

    def _due(self) -> bool:
        return self._lines >= self.max_lines or time.monotonic() - self._opened_at >= self.max_seconds

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{_HIDDEN}{os.getpid()}-{time.time_ns()}-{next(self._counter)}{_SUFFIX}"
        while True:
            path = self.folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                break
            # recover_abandoned took the empty file between its creation and the lock: again
            os.close(fd)
            name = f"{_HIDDEN}{os.getpid()}-{time.time_ns()}-{next(self._counter)}{_SUFFIX}"
        self._fd, self._path = fd, path
        self._lines, self._opened_at = 0, time.monotonic()

    def _publish(self) -> Path:
        assert self._fd is not None and self._path is not None
        os.fsync(self._fd)
        final = _publish(self._path)
        os.close(self._fd)  # the lock goes with it, after the rename
        self._fd, self._path = None, None
        self.published.append(final)
        return final


def _publish(hidden: Path) -> Path:
    """Rename a hidden decision file to its final name (UTC time of publication, unique)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = hidden.with_name(f"{_PREFIX}{stamp}-{hidden.name.removeprefix(_HIDDEN)}")
    os.rename(hidden, final)
    return final


def recover_abandoned(landing: Path | str) -> list[Path]:
    """Publish the hidden decision files of writers that died (no living process holds their
    lock); empty ones are removed. Returns the published paths."""
    published: list[Path] = []
    for path, fd in abandoned(Path(landing) / FOLDER, f"{_HIDDEN}*{_SUFFIX}"):
        if os.fstat(fd).st_size == 0:
            path.unlink(missing_ok=True)
        else:
            published.append(_publish(path))
    return published
