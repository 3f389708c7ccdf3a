"""Where everything lives under ``PLATFORM_DATA_DIR``, and the validation that guards those paths.

:class:`DataLayout` names the folders (landing, lake and its catalog, warehouse, models, reports,
tmp). User-controlled strings (file names, partition keys, dates) pass through the validators here
before they become paths or SQL literals.

Design notes (the folder tree): docs/design/data_layout.md
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from platform_assets.lib.lake_catalog import LakeCatalog

# Files that are still being written by the shipper, or are hidden, are never picked up.
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
MAX_FILE_KEY_CHARS = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class UnsafePathError(ValueError):
    """A file key or path that would escape the landing folder or is not acceptable as a key."""


def validate_file_key(key: str) -> str:
    """Check a landed file's key: a relative POSIX path inside the landing folder.

    Spaces and unicode are fine; absolute paths, ``..``, empty parts, control characters and
    hidden or in-progress names are not.
    """
    if not key or len(key) > MAX_FILE_KEY_CHARS:
        raise UnsafePathError(f"file key must be 1..{MAX_FILE_KEY_CHARS} characters: {key!r}")
    if _CONTROL.search(key) or "\\" in key:
        raise UnsafePathError(f"file key contains control characters or backslashes: {key!r}")
    path = PurePosixPath(key)
    if path.is_absolute() or key.startswith("/"):
        raise UnsafePathError(f"file key must be relative to the landing folder: {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(f"file key must not contain empty, '.' or '..' parts: {key!r}")
    if any(part.startswith(".") for part in parts):
        raise UnsafePathError(f"hidden files and folders are not landed files: {key!r}")
    if key.endswith(IN_PROGRESS_SUFFIXES):
        raise UnsafePathError(f"file is still being written (in-progress suffix): {key!r}")
    return key


def file_id(key: str) -> str:
    """A storage-safe, stable name for a landed file: readable stem plus a hash of the full key."""
    digest = hashlib.sha256(validate_file_key(key).encode("utf-8")).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9-]+", "_", PurePosixPath(key).name).strip("_")[:60] or "file"
    return f"{stem}-{digest}"


def validate_day(value: str | dt.date) -> dt.date:
    """Parse a partition date ``YYYY-MM-DD`` strictly (it ends up in paths and SQL)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}")
    return dt.date.fromisoformat(value)


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled); only for values already validated."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class DataLayout:
    """The folders of one platform data directory."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def events(self) -> Path:
        return self.lake / "events"

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine"

    @property
    def decisions(self) -> Path:
        """The prediction server's decisions, ingested from its log: a lake of its own."""
        return self.root / "decisions"

    @property
    def warehouse_db(self) -> Path:
        return self.root / "warehouse" / "warehouse.duckdb"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def ensure(self) -> DataLayout:
        """Create the folders (idempotent)."""
        for folder in (
            self.landing,
            self.events,
            self.quarantine,
            self.warehouse_db.parent,
            self.models,
            self.reports,
            self.tmp,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def landed_path(self, key: str) -> Path:
        """The file behind a key, refusing anything (symlinks included) that leaves ``landing``."""
        path = self.landing / validate_file_key(key)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.landing.resolve()):
            raise UnsafePathError(f"{key!r} resolves outside the landing folder ({resolved})")
        if not resolved.is_file():
            raise FileNotFoundError(f"landed file {key!r} does not exist (or is not a file)")
        return resolved

    def landed_keys(self) -> list[str]:
        """Every acceptable file under ``landing`` as a key, sorted; unsafe entries are skipped."""
        if not self.landing.is_dir():
            return []
        keys = []
        for path in self.landing.rglob("*"):
            key = path.relative_to(self.landing).as_posix()
            try:
                self.landed_path(key)
            except (UnsafePathError, FileNotFoundError):
                continue
            keys.append(key)
        return sorted(keys)

    def day_dir(self, day: str | dt.date) -> Path:
        return self.events / f"date={validate_day(day).isoformat()}"

    @property
    def catalog(self) -> LakeCatalog:
        """The lake catalog: the only list of the lake's current files."""
        return LakeCatalog(self.lake)

    @property
    def decisions_catalog(self) -> LakeCatalog:
        """The decision lake's catalog (same publication rules as the events lake)."""
        return LakeCatalog(self.decisions, rows="decisions")

    def day_fragments(self, day: str | dt.date) -> list[Path]:
        """The current Parquet fragments of one day of lake events (files withheld by a failed
        duplicate check and uncatalogued files of unfinished ingests are not part of it)."""
        return [f.path for f in self.catalog.fragments([validate_day(day)])]

    def days_fragments(self, first: dt.date, last: dt.date) -> list[Path]:
        """The current fragments of the days ``first`` to ``last`` (inclusive), in one query."""
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        return [f.path for f in self.catalog.fragments(days)]

    def fragments_of(self, fid: str) -> list[Path]:
        """The current event fragments of one landed file, across days (withheld or not)."""
        return [f.path for f in self.catalog.fragments(fid=fid, withheld=True)]

    def event_days(self) -> list[dt.date]:
        """The days present in the lake (at least one visible current fragment)."""
        return self.catalog.days()

    def quarantine_file(self, fid: str) -> Path:
        """The current quarantine file of one landed file (a path that does not exist if none)."""
        current = self.catalog.current(fid)
        if current is not None and current.quarantine is not None:
            return current.quarantine
        return self.quarantine / f"{fid}.parquet"
