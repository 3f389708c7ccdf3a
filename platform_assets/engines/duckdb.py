"""DuckDB engine: lake ingestion into Parquet, marts and features into ``warehouse.duckdb``.

Connections are short-lived: a private in-memory database for ingestion (spilling under
``tmp/``), a read-write connection to the warehouse file only for the length of one partition
write (assets that write hold the ``warehouse`` concurrency pool, so there is one writer), and
read-only connections for reading.
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import closing
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa

from platform_assets.engines.base import (
    Column,
    IngestResult,
    LakeDays,
    TableWrite,
    View,
    WarehouseRows,
)
from platform_assets.engines.dialect import duckdb_prelude
from platform_assets.lib.atomic import publish, staging_dir
from platform_assets.lib.layout import DataLayout, sql_string
from platform_assets.lib.line_reader import LINE_SCHEMA, ReadReport, line_reader
from platform_assets.sql import SqlDefinition, load

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880"


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return name


class DuckDBEngine(dg.ConfigurableResource):
    """Runs the platform's SQL in DuckDB over the local Parquet lake and the warehouse file."""

    data_dir: str
    memory_limit: str = "2GB"
    threads: int = 0

    @property
    def name(self) -> str:
        return "duckdb"

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    def connect(self, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection with the platform's settings (UTC, memory limit, spill folder, macros)."""
        config: dict[str, str | int] = {
            "memory_limit": self.memory_limit,
            "temp_directory": str(self.layout.tmp / "duckdb"),
        }
        if self.threads:
            config["threads"] = self.threads
        con = duckdb.connect(database, read_only=read_only, config=config)
        con.execute("SET TimeZone = 'UTC'")
        for statement in duckdb_prelude():
            con.execute(statement)
        return con

    # -- lake ---------------------------------------------------------------------------------

    def _parse_into(
        self, con: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader, source_file: str
    ) -> None:
        """Parse a stream of raw lines into the temp table ``parsed_lines`` (one scan)."""
        con.register("raw_stream", reader)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW raw_lines AS "
            f"SELECT {sql_string(source_file)} AS source_file, * FROM raw_stream"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE parsed_lines AS {load('lake/parse_lines').sql}")
        con.unregister("raw_stream")

    def ingest_log_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one landed file and publish its lake fragments and quarantine atomically.

        The file's events land in ``lake/events/date=D/<fid>__<n>.parquet`` for every day D it
        holds; each fragment replaces the previous ingestion of the same file with one rename, and
        fragments of days the file no longer yields are removed, so re-ingesting never duplicates.
        """
        layout = self.layout.ensure()
        report = ReadReport()
        with closing(self.connect()) as con, staging_dir(layout.tmp, "ingest") as stage:
            self._parse_into(con, line_reader(Path(path), report), source_file)
            by_day = dict(
                con.execute(
                    "SELECT strftime(event_date, '%Y-%m-%d'), count(*) FROM parsed_lines "
                    "WHERE reject_reason IS NULL GROUP BY ALL ORDER BY 1"
                ).fetchall()
            )
            reasons = dict(
                con.execute(
                    "SELECT reject_reason, count(*) FROM parsed_lines "
                    "WHERE reject_reason IS NOT NULL GROUP BY ALL ORDER BY 2 DESC, 1"
                ).fetchall()
            )
            events_sql = load("lake/events").sql
            staged_events = stage / "events"
            con.execute(
                f"COPY (SELECT *, event_date AS date FROM ({events_sql})) "
                f"TO {sql_string(str(staged_events))} ({_PARQUET_OPTIONS}, PARTITION_BY (date))"
            )
            staged_quarantine = stage / "quarantine.parquet"
            con.execute(
                f"COPY ({load('lake/quarantine').sql}) TO {sql_string(str(staged_quarantine))} "
                f"({_PARQUET_OPTIONS})"
            )
            columns = [Column(n, t) for n, t, *_ in con.execute(f"DESCRIBE {events_sql}").fetchall()]

            published: list[Path] = []
            for day in by_day:
                staged = sorted((staged_events / f"date={day}").glob("*.parquet"))
                for index, fragment in enumerate(staged):
                    dest = layout.day_dir(day) / f"{fid}__{index}.parquet"
                    publish(fragment, dest)
                    published.append(dest)
            for stale in set(layout.fragments_of(fid)) - set(published):
                stale.unlink(missing_ok=True)
            publish(staged_quarantine, layout.quarantine_file(fid))

        stream_marker = 1 if report.stream_error else 0
        return IngestResult(
            lines=report.lines,
            events_by_day=by_day,
            quarantined=sum(reasons.values()) - stream_marker,
            reasons=reasons,
            stream_error=report.stream_error,
            event_columns=columns,
            fragments=[p.relative_to(layout.root).as_posix() for p in published],
        )

    def _create_empty_events_view(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """A view with the lake events schema and no rows (a day nothing landed for)."""
        self._parse_into(con, pa.RecordBatchReader.from_batches(LINE_SCHEMA, iter(())), "")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {load('lake/events').sql}")

    def _create_view(self, con: duckdb.DuckDBPyConnection, name: str, view: View) -> None:
        name = _identifier(name)
        if isinstance(view, LakeDays):
            if view.table != "events":
                raise ValueError(f"unknown lake table {view.table!r}")
            days = [view.first + dt.timedelta(days=i) for i in range((view.last - view.first).days + 1)]
            files = [str(p) for day in days for p in self.layout.day_fragments(day)]
            if not files:
                self._create_empty_events_view(con, name)
                return
            file_list = "[" + ", ".join(sql_string(f) for f in files) + "]"
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM "
                f"read_parquet({file_list}, hive_partitioning = false, union_by_name = true)"
            )
        elif isinstance(view, WarehouseRows):
            table, column = _identifier(view.table), _identifier(view.column)
            if not self._table_exists(con, table):
                raise LookupError(
                    f"warehouse table {table!r} does not exist yet: materialize it before its readers"
                )
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM main.{table} "
                f"WHERE {column} BETWEEN DATE {sql_string(view.first.isoformat())} "
                f"AND DATE {sql_string(view.last.isoformat())}"
            )
        else:  # pragma: no cover - exhaustive
            raise TypeError(view)

    # -- warehouse ----------------------------------------------------------------------------

    @staticmethod
    def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ? AND table_type = 'BASE TABLE'",
            [table],
        ).fetchone()
        return bool(found and found[0])

    def write_partition(
        self, definition: SqlDefinition, views: dict[str, View], partition: dt.date
    ) -> TableWrite:
        """Replace one partition of the table named after ``definition`` in a single transaction.

        The query runs over the given views; its rows must all belong to ``partition`` (checked).
        If the query's columns no longer match the table's (the SQL changed), the table is
        rebuilt from this partition on; other partitions then need re-materializing.
        """
        table = _identifier(definition.name)
        column = _identifier(definition.partition_column or "")
        self.layout.ensure()
        with closing(self.connect(str(self.layout.warehouse_db))) as con:
            input_rows = {}
            for view_name, view in views.items():
                self._create_view(con, view_name, view)
                input_rows[view_name] = con.execute(f"SELECT count(*) FROM {view_name}").fetchone()[0]
            con.execute(f"CREATE OR REPLACE TEMP TABLE _result AS {definition.sql}")
            foreign = con.execute(
                f"SELECT count(*) FROM _result WHERE {column} IS DISTINCT FROM ?", [partition]
            ).fetchone()[0]
            if foreign:
                raise ValueError(
                    f"{table}: {foreign} rows of the result are not in partition {partition} "
                    f"(column {column}); the SQL must only produce rows of its own partition"
                )
            columns = [Column(n, t) for n, t, *_ in con.execute("DESCRIBE _result").fetchall()]
            con.execute("BEGIN TRANSACTION")
            try:
                replaced = 0
                if self._table_exists(con, table):
                    existing = [Column(n, t) for n, t, *_ in con.execute(f"DESCRIBE main.{table}").fetchall()]
                    if existing != columns:
                        con.execute(f"DROP TABLE main.{table}")
                if self._table_exists(con, table):
                    replaced = con.execute(
                        f"DELETE FROM main.{table} WHERE {column} = ?", [partition]
                    ).fetchone()[0]
                    con.execute(f"INSERT INTO main.{table} SELECT * FROM _result")
                else:
                    con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM _result")
                rows = con.execute(
                    f"SELECT count(*) FROM main.{table} WHERE {column} = ?", [partition]
                ).fetchone()[0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return TableWrite(
            table=table, rows=rows, columns=columns, input_rows=input_rows, replaced_rows=replaced
        )

    def read_frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run a read-only query against the warehouse and return a DataFrame."""
        with closing(self.connect(str(self.layout.warehouse_db), read_only=True)) as con:
            return con.execute(sql, params or []).df()

    def table_exists(self, table: str) -> bool:
        if not self.layout.warehouse_db.exists():
            return False
        with closing(self.connect(str(self.layout.warehouse_db), read_only=True)) as con:
            return self._table_exists(con, _identifier(table))
