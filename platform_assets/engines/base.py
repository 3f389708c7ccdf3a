"""What every engine does, described without naming one.

Assets hand an engine a :class:`~platform_assets.sql.SqlDefinition` and say which rows each of its
views should show (:class:`LakeDays`, :class:`WarehouseRows`); the engine decides how to expose
them and how to write the result. Assets never branch on the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from platform_assets.sql import SqlDefinition


@dataclass(frozen=True)
class LakeDays:
    """The lake table ``table`` restricted to the days ``first``..``last`` (inclusive)."""

    table: str
    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class WarehouseRows:
    """Warehouse table ``table`` where ``column`` lies in ``first``..``last`` (inclusive)."""

    table: str
    column: str
    first: dt.date
    last: dt.date


View = LakeDays | WarehouseRows


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class TableWrite:
    """What a partition write did."""

    table: str
    rows: int
    columns: list[Column]
    input_rows: dict[str, int] = field(default_factory=dict)
    replaced_rows: int = 0
    partition: dt.date | None = None
    # rows and a hash of their content: equal when the partition's data is equal
    fingerprint: str = ""
    engine: str = ""  # which engine computed the rows
    input_bytes: int = 0  # lake Parquet bytes the views read


@dataclass(frozen=True)
class PartitionWrite:
    """One partition to replace: the SQL, what its views show, and the partition it yields."""

    definition: SqlDefinition
    views: dict[str, View]
    partition: dt.date


@dataclass(frozen=True)
class IngestResult:
    """What ingesting one landed file produced."""

    lines: int
    events_by_day: dict[str, int]
    quarantined: int
    reasons: dict[str, int]
    stream_error: str | None
    event_columns: list[Column]
    fragments: list[str]
    engine: str = ""  # which engine parsed the file
    input_bytes: int = 0  # size of the landed file
    sha256: str | None = None  # of the bytes parsed, when the engine read them itself

    @property
    def events(self) -> int:
        return sum(self.events_by_day.values())


@runtime_checkable
class Engine(Protocol):
    """What the ``engine`` facade (:class:`~platform_assets.engines.resource.PlatformEngine`)
    dispatches to: DuckDB and Spark both implement it, so the facade never asks which one it has.
    Either engine's writes end in the DuckDB warehouse."""

    @property
    def name(self) -> str: ...

    def ingest_log_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one landed file into the lake and publish its fragments and quarantine atomically."""
        ...

    def write_partitions(self, writes: Iterable[PartitionWrite]) -> Iterator[TableWrite]:
        """Replace every given partition in one warehouse transaction, in the order given."""
        ...
