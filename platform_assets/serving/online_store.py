"""The online feature store: each day's visitor history as an immutable Parquet file and an atomic
pointer to the newest day, read by the server while the platform writes it.

Layout under ``<data dir>/online/visitor_history/``::

    2026-03-04.<sha256 prefix>.parquet   one published day (never rewritten; named by content)
    CURRENT.json                         {"day", "file", "sha256", "rows", "published_at"}

:func:`publish_day` writes the day's file under a temporary name and renames it into place, then
moves the pointer the same way (under a ``flock``, and only forward: rebuilding an older day does
not take the server back). A reader sees the old day or the new one, never a half-written file,
and neither side waits for the other. :class:`OnlineStore` loads the pointed day (its sha256
checked) into an in-memory DuckDB table and swaps it in when the pointer changes (one ``stat`` per
read). At scale the same rows go to a kept key-value store instead (Redis keyed by visitor, as
Feast's online store does): see docs/serving.md.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.engines.dialect import duckdb_prelude
from platform_assets.lib.atomic import atomic_write_bytes, atomic_write_text
from platform_assets.lib.layout import validate_day
from platform_assets.serving.feature_sql import STORE_COLUMNS
from platform_assets.serving.served_macros import SERVED_MACROS

POINTER = "CURRENT.json"
TABLE = "visitor_history"
KEEP_FILES = 3  # published files kept besides the pointed one (a reader loading an older one still finds it)


class StoreUnavailable(RuntimeError):
    """No day published yet, or the pointed file is missing or not what the pointer says."""


def store_root(data_dir: Path) -> Path:
    return Path(data_dir) / "online" / TABLE


@dataclass(frozen=True)
class Published:
    """What a publication left: the day, its file, its rows and whether the pointer moved to it."""

    day: dt.date
    path: Path
    sha256: str
    rows: int
    current: bool


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_pointer(root: Path) -> dict | None:
    try:
        return json.loads((root / POINTER).read_text("utf-8"))
    except FileNotFoundError:
        return None


def publish_day(root: Path, day: dt.date | str, rows: pa.Table) -> Published:
    """Publish ``rows`` (:data:`STORE_COLUMNS`) as the history of ``day``; the pointer moves to it
    unless a later day is already published."""
    day = validate_day(day)
    if tuple(rows.column_names) != STORE_COLUMNS:
        raise ValueError(f"store rows must have the columns {STORE_COLUMNS}, got {tuple(rows.column_names)}")
    sink = io.BytesIO()
    pq.write_table(rows, sink)
    data = sink.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    path = Path(root) / f"{day.isoformat()}.{sha256[:16]}.parquet"
    with _locked(Path(root)):
        if not path.exists():
            atomic_write_bytes(path, data)
        pointer = read_pointer(Path(root))
        current = pointer is None or pointer["day"] <= day.isoformat()
        if current:
            record = {
                "day": day.isoformat(),
                "file": path.name,
                "sha256": sha256,
                "rows": rows.num_rows,
                "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            atomic_write_text(Path(root) / POINTER, json.dumps(record, indent=1) + "\n")
        _prune(Path(root), keep=path.name if current else (pointer or {}).get("file"))
    return Published(day, path, sha256, rows.num_rows, current)


def _prune(root: Path, keep: str | None) -> None:
    """Remove published files but the pointed one and the newest :data:`KEEP_FILES` others."""
    files = sorted(root.glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for path in [p for p in files if p.name != keep][KEEP_FILES:]:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Snapshot:
    """One published day loaded in memory: an in-memory DuckDB database holding :data:`TABLE`."""

    day: dt.date
    file: str
    rows: int
    database: duckdb.DuckDBPyConnection

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of this thread's own to the snapshot (DuckDB connections are not shared
        between threads)."""
        return self.database.cursor()


def load_snapshot(root: Path, pointer: dict) -> Snapshot:
    """The pointed day in memory, after checking its bytes against the pointer's sha256."""
    name = str(pointer.get("file", ""))
    if "/" in name or not name.endswith(".parquet"):
        raise StoreUnavailable(f"the store's pointer names an invalid file {name!r}")
    try:
        data = (Path(root) / name).read_bytes()
    except FileNotFoundError:
        raise StoreUnavailable(f"the store's pointed file {name} is missing") from None
    if hashlib.sha256(data).hexdigest() != pointer.get("sha256"):
        raise StoreUnavailable(f"the store's file {name} does not match the pointer's sha256")
    table = pq.read_table(io.BytesIO(data))
    database = duckdb.connect(":memory:")
    database.execute("SET GLOBAL TimeZone = 'UTC'")
    for statement in duckdb_prelude():
        # the engines' functions as macros of the database, not of one connection: every
        # request's cursor sees them
        database.execute(statement.replace("CREATE OR REPLACE TEMP MACRO", "CREATE OR REPLACE MACRO"))
    for statement in SERVED_MACROS:
        database.execute(statement)
    database.register("_published", table)
    database.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM _published ORDER BY visitor_id")
    database.unregister("_published")
    database.execute(f"CREATE INDEX {TABLE}_visitor ON {TABLE} (visitor_id)")
    return Snapshot(validate_day(pointer["day"]), name, table.num_rows, database)


class OnlineStore:
    """The newest published day, reloaded when the pointer changes (checked on every read)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._snapshot: Snapshot | None = None
        self._seen: tuple[int, int] | None = None
        self._error: str | None = "no day published yet"
        self._lock = threading.Lock()

    def _pointer_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.root / POINTER).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def current(self) -> Snapshot:
        """The snapshot to read; raises :class:`StoreUnavailable` when none can be loaded."""
        stamp = self._pointer_stamp()
        if stamp != self._seen:
            with self._lock:
                if stamp != self._seen:
                    self._reload(stamp)
        if self._snapshot is None:
            raise StoreUnavailable(self._error or "the online store is not loaded")
        return self._snapshot

    def _reload(self, stamp: tuple[int, int] | None) -> None:
        """Load the pointed day; on failure keep serving the last good day and remember why."""
        try:
            pointer = read_pointer(self.root)
            if pointer is None:
                raise StoreUnavailable(f"no day published yet in {self.root.name}/")
            if self._snapshot is None or pointer.get("file") != self._snapshot.file:
                self._snapshot = load_snapshot(self.root, pointer)
            self._error = None
        except (StoreUnavailable, OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            self._error = str(error)
        self._seen = stamp

    @property
    def error(self) -> str | None:
        return self._error
