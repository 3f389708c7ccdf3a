"""The lake catalog: which Parquet files make up the lake, one committed generation per landed file.

A landed file's lake output is several files that cannot be renamed into place atomically, so
readers do not list folders: they ask this SQLite catalog (``lake/catalog.sqlite``, with a rollback
journal so that readers never write) for each file id's current generation. :func:`publish_ingest`
moves a new generation's files in, makes it current in ONE transaction, then deletes the previous
one: killed anywhere, readers see one generation or the other, never a mix.

Design notes: docs/design/lake_catalog.md
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CATALOG_FILE = "catalog.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_EPOCH = dt.datetime(1970, 1, 1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    fid TEXT PRIMARY KEY,
    source_file TEXT NOT NULL,
    generation INTEGER NOT NULL,
    sha256 TEXT,
    lines INTEGER,
    events INTEGER NOT NULL,
    quarantined INTEGER,
    quarantine_path TEXT,
    withheld TEXT,
    committed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS fragments (
    fid TEXT NOT NULL REFERENCES files (fid),
    day TEXT NOT NULL,
    path TEXT NOT NULL,
    rows INTEGER NOT NULL,
    ts_min INTEGER,
    ts_max INTEGER,
    PRIMARY KEY (fid, day)
);
CREATE INDEX IF NOT EXISTS fragments_day ON fragments (day);
CREATE TABLE IF NOT EXISTS reservations (
    generation INTEGER PRIMARY KEY AUTOINCREMENT,
    fid TEXT NOT NULL,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    reserved_at TEXT NOT NULL
);
"""


class DuplicateContentError(ValueError):
    """The landed file's bytes are already in the lake under another key: nothing was published."""


class LakeStorageError(OSError):
    """The data directory cannot be written (full, quota, read-only): nothing was published."""


@dataclass(frozen=True)
class Fragment:
    """One current events fragment: a landed file's events of one UTC day."""

    fid: str
    day: dt.date
    path: Path
    rows: int


@dataclass(frozen=True)
class Generation:
    """The committed lake output of one landed file."""

    fid: str
    source_file: str
    generation: int
    sha256: str | None
    lines: int | None
    quarantined: int | None
    quarantine: Path | None
    fragments: tuple[Fragment, ...]
    withheld: str | None

    @property
    def files(self) -> list[Path]:
        return [f.path for f in self.fragments] + ([self.quarantine] if self.quarantine else [])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _micros(value: dt.datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def ts_range(path: Path, column: str = "ts") -> tuple[int | None, int | None]:
    """(min, max) of ``column`` in microseconds from the Parquet footer's statistics, or
    (None, None) when unknown (no statistics, or NULLs that compare with anything)."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names or meta.num_row_groups == 0:
        return None, None
    index = names.index(column)
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max or stats.null_count:
            return None, None
        if not isinstance(stats.min, dt.datetime):
            return None, None
        lows.append(_micros(stats.min))
        highs.append(_micros(stats.max))
    return min(lows), max(highs)


def _owner_alive(owner: str) -> bool:
    """Whether the staging folder that reserved a generation is still held by its writer."""
    try:
        fd = os.open(owner, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False  # removed: its writer has ended (or was killed and swept)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _generation_of(path: Path, fid: str) -> int | None:
    """The generation in a lake file name ``<fid>__<gen>.parquet`` (legacy quarantine: 0)."""
    stem = path.name.removesuffix(".parquet")
    if stem == fid:
        return 0
    head, sep, tail = stem.rpartition("__")
    return int(tail) if sep and head == fid and tail.isdigit() else None


class LakeCatalog:
    """The catalog of one lake folder (docs/design/lake_catalog.md)."""

    def __init__(self, lake: Path, rows: str = "events") -> None:
        """``rows``: the folder of the table's day fragments (``events`` in the events lake; the
        decision log's lake uses ``decisions``), beside ``quarantine`` and the catalog file."""
        self.lake = Path(lake)
        self.rows = rows
        self.path = self.lake / CATALOG_FILE

    # -- connection ---------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection | None]:
        """A connection in autocommit mode (transactions are explicit), or None when there is no
        lake folder yet (nothing to read, and reading must not create it)."""
        if not self.lake.is_dir():
            yield None
            return
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as con:
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if con.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._create(con)
            yield con

    def _create(self, con: sqlite3.Connection) -> None:
        """Create the schema and adopt a lake written before the catalog existed, once."""
        con.execute("PRAGMA journal_mode = DELETE")  # readers never write (docs/design/lake_catalog.md)
        with self._write(con):
            if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return  # another process created it meanwhile
            for statement in filter(str.strip, _SCHEMA.split(";")):
                con.execute(statement)
            self._adopt(con)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self, con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so concurrent writers queue, never deadlock)."""
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _adopt(self, con: sqlite3.Connection) -> None:
        """Catalogue the files of the previous layout (``<fid>__0.parquet`` per day and
        ``quarantine/<fid>.parquet``) as generation 0 of their file id; sha256 unknown."""
        by_fid: dict[str, list[tuple[str, Path]]] = {}
        for path in sorted(self.lake.glob(f"{self.rows}/date=*/*__*.parquet")):
            fid, _, gen = path.name.removesuffix(".parquet").rpartition("__")
            if fid and gen == "0":
                by_fid.setdefault(fid, []).append((path.parent.name.removeprefix("date="), path))
        quarantines = {
            p.name.removesuffix(".parquet"): p
            for p in self.lake.glob("quarantine/*.parquet")
            if "__" not in p.name
        }
        for fid in sorted(set(by_fid) | set(quarantines)):
            quarantine = quarantines.get(fid)
            try:
                fragments = [
                    (day, path, pq.ParquetFile(path).metadata.num_rows) for day, path in by_fid.get(fid, [])
                ]
                quarantined = pq.ParquetFile(quarantine).metadata.num_rows if quarantine else None
            except (OSError, pa.ArrowException):
                continue  # not readable Parquet: not adopted, so never read (what a half-write leaves)
            source = _source_file(fragments[0][1] if fragments else None, quarantine) or fid
            self._insert(
                con,
                fid=fid,
                source_file=source,
                generation=0,
                sha256=None,
                lines=None,
                quarantined=quarantined,
                quarantine=quarantine,
                fragments=fragments,
            )

    def _insert(
        self, con, *, fid, source_file, generation, sha256, lines, quarantined, quarantine, fragments
    ):
        con.execute("DELETE FROM fragments WHERE fid = ?", [fid])
        con.execute(
            "INSERT OR REPLACE INTO files (fid, source_file, generation, sha256, lines, events, "
            "quarantined, quarantine_path, withheld, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            [
                fid,
                source_file,
                generation,
                sha256,
                lines,
                sum(rows for _, _, rows in fragments),
                quarantined,
                self._relative(quarantine) if quarantine else None,
                _now(),
            ],
        )
        for day, path, rows in fragments:
            low, high = ts_range(path)
            con.execute(
                "INSERT INTO fragments (fid, day, path, rows, ts_min, ts_max) VALUES (?, ?, ?, ?, ?, ?)",
                [fid, str(day), self._relative(path), rows, low, high],
            )

    def _relative(self, path: Path) -> str:
        return Path(path).relative_to(self.lake).as_posix()

    # -- reading ------------------------------------------------------------------------------

    def fragments(
        self, days: Iterable[dt.date | str] | None = None, fid: str | None = None, withheld: bool = False
    ) -> list[Fragment]:
        """Current fragments, of some days and/or one file; files withheld by a failed duplicate
        check are left out unless ``withheld`` (a file's own checks still see its fragments)."""
        where, params = [], []
        if days is not None:
            wanted = sorted({str(d) for d in days})
            if not wanted:
                return []
            where.append(f"g.day IN ({', '.join('?' * len(wanted))})")
            params += wanted
        if fid is not None:
            where.append("g.fid = ?")
            params.append(fid)
        if not withheld:
            where.append("f.withheld IS NULL")
        sql = (
            "SELECT g.fid, g.day, g.path, g.rows FROM fragments g JOIN files f USING (fid) "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY g.day, g.path"
        )
        with self._connect() as con:
            rows = con.execute(sql, params).fetchall() if con else []
        return [Fragment(f, dt.date.fromisoformat(d), self.lake / p, n) for f, d, p, n in rows]

    def overlapping(self, fid: str) -> list[Fragment]:
        """Other files' visible fragments of the same days as ``fid``'s whose ``ts`` range meets one
        of its fragments' (or is unknown): the only ones that can hold the same events."""
        sql = (
            "SELECT DISTINCT o.fid, o.day, o.path, o.rows FROM fragments m "
            "JOIN fragments o ON o.day = m.day AND o.fid <> m.fid "
            "JOIN files f ON f.fid = o.fid AND f.withheld IS NULL "
            "WHERE m.fid = ? AND (o.ts_min IS NULL OR m.ts_min IS NULL "
            "OR (o.ts_min <= m.ts_max AND m.ts_min <= o.ts_max)) ORDER BY o.day, o.path"
        )
        with self._connect() as con:
            rows = con.execute(sql, [fid]).fetchall() if con else []
        return [Fragment(f, dt.date.fromisoformat(d), self.lake / p, n) for f, d, p, n in rows]

    def days(self) -> list[dt.date]:
        """The days at least one visible fragment holds."""
        with self._connect() as con:
            rows = (
                con.execute(
                    "SELECT DISTINCT day FROM fragments JOIN files USING (fid) "
                    "WHERE withheld IS NULL ORDER BY 1"
                ).fetchall()
                if con
                else []
            )
        return [dt.date.fromisoformat(d) for (d,) in rows]

    def current(self, fid: str) -> Generation | None:
        """The committed generation of one file id, or None."""
        with self._connect() as con:
            if con is None:
                return None
            row = con.execute(
                "SELECT source_file, generation, sha256, lines, quarantined, quarantine_path, withheld "
                "FROM files WHERE fid = ?",
                [fid],
            ).fetchone()
        if row is None:
            return None
        source, generation, sha256, lines, quarantined, quarantine, withheld = row
        return Generation(
            fid=fid,
            source_file=source,
            generation=generation,
            sha256=sha256,
            lines=lines,
            quarantined=quarantined,
            quarantine=self.lake / quarantine if quarantine else None,
            fragments=tuple(self.fragments(fid=fid, withheld=True)),
            withheld=withheld,
        )

    # -- writing ------------------------------------------------------------------------------

    def reserve(self, fid: str, owner: Path) -> int:
        """A fresh generation number for ``fid``, owned by the staging folder ``owner`` (held
        under ``flock`` by the writer for as long as it lives)."""
        self.lake.mkdir(parents=True, exist_ok=True)
        with self._connect() as con, self._write(con):
            cursor = con.execute(
                "INSERT INTO reservations (fid, owner, pid, reserved_at) VALUES (?, ?, ?, ?)",
                [fid, str(owner), os.getpid(), _now()],
            )
            return int(cursor.lastrowid)

    def release(self, generation: int) -> None:
        with self._connect() as con, self._write(con):
            con.execute("DELETE FROM reservations WHERE generation = ?", [generation])

    def commit(
        self,
        *,
        fid: str,
        source_file: str,
        generation: int,
        sha256: str,
        lines: int,
        quarantined: int,
        quarantine: Path,
        fragments: Iterable[tuple[str, Path, int]],
    ) -> list[Path]:
        """Make ``generation`` the current one of ``fid`` in one transaction; return the files of
        the generation it replaces (the caller deletes them). Refuses (:class:`DuplicateContentError`)
        when another file id with the same content is current."""
        fragments = list(fragments)
        with self._connect() as con, self._write(con):
            if sha256 != EMPTY_SHA256:
                twin = con.execute(
                    "SELECT source_file FROM files WHERE sha256 = ? AND fid <> ? "
                    "ORDER BY source_file LIMIT 1",
                    [sha256, fid],
                ).fetchone()
                if twin:
                    raise DuplicateContentError(
                        f"{source_file!r} has the same content (sha256 {sha256[:16]}...) as {twin[0]!r}, "
                        f"which is already in the lake: nothing of {source_file!r} was published "
                        "(a file landed twice under two names would count its events twice)"
                    )
            previous = [p for (p,) in con.execute("SELECT path FROM fragments WHERE fid = ?", [fid])]
            previous += [
                p
                for (p,) in con.execute("SELECT quarantine_path FROM files WHERE fid = ?", [fid])
                if p is not None
            ]
            self._insert(
                con,
                fid=fid,
                source_file=source_file,
                generation=generation,
                sha256=sha256,
                lines=lines,
                quarantined=quarantined,
                quarantine=quarantine,
                fragments=fragments,
            )
            con.execute("DELETE FROM reservations WHERE generation = ?", [generation])
        return [self.lake / p for p in previous]

    def withhold(self, fid: str, generation: int, reason: str) -> bool:
        """Take a committed generation out of what day readers see (a failed duplicate check), so
        later day builds do not count its events; its own checks still read it. Re-ingesting the
        file publishes a new generation, visible again. False if ``generation`` is no longer current."""
        with self._connect() as con, self._write(con):
            updated = con.execute(
                "UPDATE files SET withheld = ? WHERE fid = ? AND generation = ?", [reason, fid, generation]
            )
            return updated.rowcount == 1

    # -- leftovers ----------------------------------------------------------------------------

    def leftovers(self, fid: str | None = None) -> list[Path]:
        """Lake files no reader sees and no living writer owns: what killed ingests left."""
        pattern = f"{fid}__*.parquet" if fid else "*.parquet"
        candidates = [
            *self.lake.glob(f"{self.rows}/date=*/{pattern}"),
            *self.lake.glob(f"quarantine/{pattern}"),
        ]
        if fid:
            candidates += self.lake.glob(f"quarantine/{fid}.parquet")
        if not candidates:
            return []
        with self._connect() as con:
            if con is None:
                return []
            catalogued = {self.lake / p for (p,) in con.execute("SELECT path FROM fragments")}
            catalogued |= {
                self.lake / p
                for (p,) in con.execute("SELECT quarantine_path FROM files WHERE quarantine_path IS NOT NULL")
            }
            reserved = con.execute("SELECT generation, owner FROM reservations").fetchall()
        live = {generation for generation, owner in reserved if _owner_alive(owner)}
        dead = [generation for generation, _ in reserved if generation not in live]
        if dead:
            with self._connect() as con, self._write(con):
                con.executemany("DELETE FROM reservations WHERE generation = ?", [[g] for g in dead])
        found = []
        for path in candidates:
            if path in catalogued:
                continue
            stem = path.name.removesuffix(".parquet")
            owner_fid = fid or stem.rpartition("__")[0] or stem
            generation = _generation_of(path, owner_fid)
            if generation is None or generation in live:
                continue
            found.append(path)
        return sorted(found)

    def sweep(self, fid: str | None = None) -> list[Path]:
        """Delete :meth:`leftovers` (of one file id, or of the whole lake); return them."""
        removed = self.leftovers(fid)
        for path in removed:
            path.unlink(missing_ok=True)
        return removed


def _source_file(fragment: Path | None, quarantine: Path | None) -> str | None:
    """The landed key an adopted file was ingested from (its rows' ``source_file``)."""
    for path in (fragment, quarantine):
        if path is None:
            continue
        try:
            table = pq.read_table(path, columns=["source_file"]).slice(0, 1)
        except (OSError, pa.ArrowException, KeyError):
            continue
        if table.num_rows:
            return str(table.column(0)[0].as_py())
    return None


def content_sha256(path: Path) -> str:
    """sha256 of a landed file's bytes (what the landing sensor calls its content)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error).lower()
    return "no space left" in text or "database or disk is full" in text or "disk quota" in text


@contextmanager
def storage_errors(data_dir: Path) -> Iterator[None]:
    """Turn a full disk met anywhere in an ingest (Parquet writer, DuckDB spill, catalog commit)
    into one clear :class:`LakeStorageError` naming the data directory."""
    try:
        yield
    except LakeStorageError:
        raise
    except Exception as error:
        if not _is_disk_full(error):
            raise
        raise LakeStorageError(
            errno.ENOSPC,
            f"no space left on device in the data directory {data_dir}: the ingest published nothing "
            f"(the lake is as it was); free space and run it again ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0][:200] if str(error).strip() else ''})",
        ) from error


def publish_ingest(
    catalog: LakeCatalog,
    *,
    fid: str,
    source_file: str,
    landed: Path,
    owner: Path,
    staged_days: Mapping[str, Path],
    rows_by_day: Mapping[str, int],
    staged_quarantine: Path,
    lines: int,
    quarantined: int,
    sha256: str | None = None,
) -> list[Path]:
    """Publish one landed file's staged lake output as ONE unit (docs/design/lake_catalog.md);
    return its fragments' paths. ``owner`` is the caller's staging folder, held under ``flock``.
    ``sha256`` is that of the bytes parsed (hashed while reading); without it the landed file is
    hashed here.
    The files are flushed to disk before the commit names them, so even a power cut cannot leave
    the catalog naming a truncated file."""
    lake = catalog.lake
    with storage_errors(lake.parent):
        sha256 = sha256 or content_sha256(landed)
        catalog.sweep(fid)  # what killed ingests of this file left
        for staged in [*staged_days.values(), staged_quarantine]:
            _fsync(staged)
        generation = catalog.reserve(fid, owner)
        moved: list[Path] = []
        try:
            fragments = []
            for day, staged in sorted(staged_days.items()):
                dest = lake / catalog.rows / f"date={day}" / f"{fid}__{generation}.parquet"
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, dest)
                moved.append(dest)
                fragments.append((day, dest, int(rows_by_day[day])))
            quarantine = lake / "quarantine" / f"{fid}__{generation}.parquet"
            quarantine.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged_quarantine, quarantine)
            moved.append(quarantine)
            for folder in {path.parent for path in moved}:
                _fsync(folder)
            previous = catalog.commit(
                fid=fid,
                source_file=source_file,
                generation=generation,
                sha256=sha256,
                lines=lines,
                quarantined=quarantined,
                quarantine=quarantine,
                fragments=fragments,
            )
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            # if this fails too, the reservation's owner dies with this run and the next sweep drops it
            with suppress(sqlite3.Error):
                catalog.release(generation)
            raise
        for path in set(previous) - set(moved):
            path.unlink(missing_ok=True)
        catalog.sweep(fid)  # a concurrent ingest of the same file that lost the race
    return [dest for _, dest, _ in fragments]


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
