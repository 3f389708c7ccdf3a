"""DuckDB engine: lake ingestion into Parquet, marts and features into ``warehouse.duckdb``.

Connections are short-lived: a private in-memory database for ingestion (spilling under
``tmp/``), a read-write connection to the warehouse file only for the length of one partition
write (assets that write hold the ``warehouse`` concurrency pool, so there is one writer), and
read-only connections for reading.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.engines.base import (
    Column,
    IngestResult,
    LakeDays,
    PartitionWrite,
    TableWrite,
    View,
    WarehouseRows,
)
from platform_assets.engines.dialect import duckdb_prelude
from platform_assets.engines.duckdb_json_fast_path import (
    FastPathDeclined,
    fast_parsed_batches,
    fast_path_applies,
)
from platform_assets.engines.duckdb_sessionise import visitor_buckets
from platform_assets.engines.lake_files import arrow_schema, duckdb_type, lake_types, publish_staged_ingest
from platform_assets.engines.parquet_sink import ParquetSink, PartitionedSink, WriteQueue
from platform_assets.lib.atomic import staging_dir
from platform_assets.lib.lake_catalog import storage_errors
from platform_assets.lib.layout import DataLayout, sql_string
from platform_assets.lib.line_reader import LINE_SCHEMA, ReadReport, line_reader
from platform_assets.sql import SqlDefinition, load

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_BATCH_ROWS = 65_536
_QUARANTINE_SCHEMA = arrow_schema(lake_types("quarantine"))


def _quarantine_rows(rejects: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [rejects.column(c) for c in ("source_file", "source_line", "reject_reason", "raw_line")],
        schema=_QUARANTINE_SCHEMA,
    )


def _split(batch: pa.RecordBatch, column: pa.Array) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """(rows where ``column`` is set, rows where it is NULL); no copy when all rows fall one way."""
    if column.null_count == 0:
        return batch, batch.slice(0, 0)
    if column.null_count == len(column):
        return batch.slice(0, 0), batch
    present = pc.is_valid(column)
    return batch.filter(present), batch.filter(pc.invert(present))


def _declared_events(rows: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Events whose line carried a session: the parsed columns, ``declared_session_id`` renamed."""
    names = ["declared_session_id" if f.name == "session_id" else f.name for f in schema]
    return pa.RecordBatch.from_arrays([rows.column(n) for n in names], schema=schema)


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return name


class DuckDBEngine(dg.ConfigurableResource):
    """Runs the platform's SQL in DuckDB over the local Parquet lake and the warehouse file."""

    data_dir: str
    memory_limit: str = "2GB"
    threads: int = 0
    lock_timeout_seconds: float = 300.0

    @property
    def name(self) -> str:
        return "duckdb"

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    def connect(self, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection with the platform's settings (UTC, memory limit, spill folder, macros).

        DuckDB allows one process to write a database file; while another holds it, opening it
        is retried with backoff for up to ``lock_timeout_seconds`` (steps or runs that overlap
        wait their turn instead of failing), then the lock error is raised naming the file.
        """
        config: dict[str, str | int] = {
            "memory_limit": self.memory_limit,
            "temp_directory": str(self.layout.tmp / "duckdb"),
        }
        if self.threads:
            config["threads"] = self.threads
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(database, read_only=read_only, config=config)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        con.execute("SET TimeZone = 'UTC'")
        for statement in duckdb_prelude():
            con.execute(statement)
        return con

    # -- lake ---------------------------------------------------------------------------------

    def _parse_into(
        self, con: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader, source_file: str
    ) -> None:
        """Parse a stream of raw lines into the temp table ``parsed_lines`` (one scan), and the
        view ``checked_lines`` (the file rules) over it."""
        con.register("raw_stream", reader)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW raw_lines AS "
            f"SELECT {sql_string(source_file)} AS source_file, * FROM raw_stream"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE parsed_lines AS {load('lake/parse_lines').sql}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW checked_lines AS {load('lake/checked_lines').sql}")
        con.unregister("raw_stream")

    def ingest_log_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one landed file and publish its lake fragments and quarantine atomically.

        A file of clean JSON lines is parsed by DuckDB's own JSON reader on every core
        (:mod:`~platform_assets.engines.duckdb_json_fast_path`); any other file, or one that path
        declines midway, by the validating path below, from scratch. Both give the same rows.
        """
        if fast_path_applies(Path(path)):
            try:
                return self._ingest(path, source_file, fid, fast=True)
            except FastPathDeclined:
                pass
        return self._ingest(path, source_file, fid, fast=False)

    def _ingest(self, path: str, source_file: str, fid: str, *, fast: bool) -> IngestResult:
        """Parse one landed file and publish its lake fragments and quarantine atomically.

        One streaming pass: DuckDB parses the lines (``lake/parse_lines``) and hands Arrow batches
        back; rejected lines go to the quarantine file, events that carry a session go straight
        to one Parquet writer per day, and the rest (access logs) are staged, checked by the rules
        that need the whole file (``lake/checked_lines``: more quarantined lines) and sessionised
        by ``lake/events`` afterwards. Memory stays bounded by the batches, whatever the file size.

        The file's events land in ``lake/events/date=D/<fid>__<gen>.parquet`` for every day D it
        holds, its quarantine in ``lake/quarantine/<fid>__<gen>.parquet``, and one catalog commit
        makes them current together, replacing the previous ingestion of the same file
        (:func:`~platform_assets.lib.lake_catalog.publish_ingest`): readers see all of them or none,
        and re-ingesting never duplicates. A full disk fails with
        :class:`~platform_assets.lib.lake_catalog.LakeStorageError` naming the data directory.
        """
        layout = self.layout.ensure()
        report = ReadReport()
        events_sql = load("lake/events").sql
        event_columns = list(load("lake/events").columns)
        with (
            storage_errors(layout.root),
            closing(self.connect()) as con,
            staging_dir(layout.tmp, "ingest") as stage,
            closing(WriteQueue()) as writes,
        ):
            if fast:  # raises FastPathDeclined while iterating when the file is not clean
                parsed_schema, parsed = fast_parsed_batches(con, Path(path), source_file, report, _BATCH_ROWS)
            else:
                con.register("raw_stream", line_reader(Path(path), report))
                con.execute(
                    "CREATE OR REPLACE TEMP VIEW raw_lines AS "
                    f"SELECT {sql_string(source_file)} AS source_file, * FROM raw_stream"
                )
                reader = con.sql(load("lake/parse_lines").sql).to_arrow_reader(_BATCH_ROWS)
                parsed_schema, parsed = reader.schema, reader
            event_schema = pa.schema(
                [
                    parsed_schema.field("declared_session_id" if c == "session_id" else c).with_name(c)
                    for c in event_columns
                ]
            )
            events = PartitionedSink(stage / "events", event_schema, "event_date", writes)
            quarantine = ParquetSink(stage / "quarantine.parquet", _QUARANTINE_SCHEMA, writes)
            unsessioned = ParquetSink(stage / "unsessioned.parquet", parsed_schema, writes)
            reasons: Counter[str] = Counter()
            for batch in parsed:
                rejects, good = _split(batch, batch.column("reject_reason"))
                if rejects.num_rows:
                    quarantine.write(_quarantine_rows(rejects))
                    reasons.update(rejects.column("reject_reason").to_pylist())
                declared, undeclared = _split(good, good.column("declared_session_id"))
                events.write(_declared_events(declared, event_schema))
                unsessioned.write(undeclared)
            unsessioned.close()
            if not fast:
                con.unregister("raw_stream")
            if unsessioned.rows:
                con.execute(
                    "CREATE OR REPLACE TEMP VIEW parsed_lines AS "
                    f"SELECT * FROM read_parquet({sql_string(str(stage / 'unsessioned.parquet'))})"
                )
                # the rules that need the whole file: every accepted access-log line is staged here
                checked_sql = load("lake/checked_lines").sql
                con.execute(f"CREATE OR REPLACE TEMP VIEW checked_lines AS {checked_sql}")
                for batch in con.sql(load("lake/quarantine").sql).to_arrow_reader(_BATCH_ROWS):
                    quarantine.write(batch.cast(_QUARANTINE_SCHEMA))
                    reasons.update(batch.column("reason").to_pylist())
                # sessionised by buckets of visitors that fit in memory (duckdb_sessionise.py)
                for bucket in visitor_buckets(con, unsessioned.rows):
                    con.execute(
                        "CREATE OR REPLACE TEMP VIEW checked_lines AS "
                        f"SELECT * FROM ({checked_sql}) AS lines WHERE {bucket}"
                    )
                    for batch in con.sql(events_sql).to_arrow_reader(_BATCH_ROWS):
                        events.write(batch.cast(event_schema))
            quarantine.close()
            staged_days = events.close()
            return publish_staged_ingest(
                layout,
                stage,
                fid=fid,
                source_file=source_file,
                landed=Path(path),
                staged_days=staged_days,
                events_by_day=events.rows_by_value,
                staged_quarantine=stage / "quarantine.parquet",
                lines=report.lines,
                reasons=reasons,
                stream_error=report.stream_error,
                event_columns=[Column(f.name, duckdb_type(f.type)) for f in event_schema],
                sha256=report.sha256,
            )

    def ingest_decision_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one decision-log file (``lake/decisions``) into the decision lake, per UTC day,
        and its bad lines into that lake's quarantine; published atomically like the events lake
        (re-ingesting replaces, never duplicates). One streaming pass over numbered lines."""
        layout = self.layout.ensure()
        layout.decisions.mkdir(exist_ok=True)
        report = ReadReport()
        definition = load("lake/decisions")
        schema = arrow_schema(lake_types("decisions"))
        with (
            storage_errors(layout.root),
            closing(self.connect()) as con,
            staging_dir(layout.tmp, "decisions") as stage,
            closing(WriteQueue()) as writes,
        ):
            con.register("raw_stream", line_reader(Path(path), report))
            con.execute(
                "CREATE OR REPLACE TEMP VIEW raw_lines AS "
                f"SELECT {sql_string(source_file)} AS source_file, * FROM raw_stream"
            )
            rows = PartitionedSink(stage / "decisions", schema, "event_date", writes)
            quarantine = ParquetSink(stage / "quarantine.parquet", _QUARANTINE_SCHEMA, writes)
            reasons: Counter[str] = Counter()
            for batch in con.sql(definition.sql).to_arrow_reader(_BATCH_ROWS):
                rejects, good = _split(batch, batch.column("reject_reason"))
                if rejects.num_rows:
                    quarantine.write(_quarantine_rows(rejects))
                    reasons.update(rejects.column("reject_reason").to_pylist())
                rows.write(pa.RecordBatch.from_arrays([good.column(n) for n in schema.names], schema=schema))
            con.unregister("raw_stream")
            quarantine.close()
            staged_days = rows.close()
            return publish_staged_ingest(
                layout,
                stage,
                fid=fid,
                source_file=source_file,
                landed=Path(path),
                staged_days=staged_days,
                events_by_day=rows.rows_by_value,
                staged_quarantine=stage / "quarantine.parquet",
                lines=report.lines,
                reasons=reasons,
                stream_error=report.stream_error,
                event_columns=[Column(f.name, duckdb_type(f.type)) for f in schema],
                sha256=report.sha256,
                catalog=layout.decisions_catalog,
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
            # the catalog's current files only: never a half-published or withheld file
            files = [str(p) for p in self.layout.days_fragments(view.first, view.last)]
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
        """Replace one partition of the table named after ``definition`` (see :meth:`write_partitions`)."""
        return next(iter(self.write_partitions([PartitionWrite(definition, views, partition)])))

    def write_partitions(self, writes: Iterable[PartitionWrite]) -> Iterator[TableWrite]:
        """Replace every given partition in ONE warehouse transaction, in the order given.

        Each query runs over its views, which see the writes before it (a table of the layer
        reads the one before it, a day of a backfill the days before it); its rows must all
        belong to its partition (checked). If the query's columns no longer match the table's
        (the SQL changed), the table is rebuilt from this partition on; other partitions then need
        re-materializing. Nothing is visible until all of them commit: a failure or a killed
        process leaves every table as it was (readers never see some tables of a step new and
        others old). The results are yielded after the commit.
        """
        with self.transaction() as warehouse:
            written = [warehouse.replace_partition(write) for write in writes]
        yield from written

    @contextmanager
    def transaction(self) -> Iterator[WarehouseTransaction]:
        """One read-write connection to the warehouse file inside one transaction.

        Committed when the block ends; rolled back when it raises. If the commit itself fails
        (disk full, I/O error), DuckDB has already aborted the transaction: that error, which
        names the file, is what surfaces, not the failed ROLLBACK after it.
        """
        self.layout.ensure()
        with closing(self.connect(str(self.layout.warehouse_db))) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield WarehouseTransaction(self, con)
                con.execute("COMMIT")
            except BaseException as error:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error as rollback_error:  # the commit failed: nothing left to roll back
                    error.add_note(f"warehouse {self.layout.warehouse_db}: rollback: {rollback_error}")
                raise

    def _replace_partition(self, con: duckdb.DuckDBPyConnection, write: PartitionWrite) -> TableWrite:
        """Run ``write``'s SQL over its views and replace its partition (inside the caller's transaction).

        The query is a view, ``_result``, read once, straight into the table (no temporary copy),
        unless it reads its own table: then it is materialised first, so it sees the partition
        it replaces as it was.
        """
        input_rows = {}
        for view_name, view in write.views.items():
            self._create_view(con, view_name, view)
            input_rows[view_name] = con.execute(f"SELECT count(*) FROM {view_name}").fetchone()[0]
        reads_itself = any(
            isinstance(view, WarehouseRows) and view.table == write.definition.name
            for view in write.views.values()
        )
        kind = "TABLE" if reads_itself else "VIEW"
        con.execute(f"CREATE OR REPLACE TEMP {kind} _result AS {write.definition.sql}")
        written = self._commit_result(con, write.definition, write.partition, input_rows)
        con.execute(f"DROP {kind} _result")  # after a failure, the rollback and closing drop it
        return written

    def load_partition(
        self, definition: SqlDefinition, rows: pa.Table, partition: dt.date, input_rows: dict[str, int]
    ) -> TableWrite:
        """Replace one partition with rows another engine computed, in a transaction of its own
        (see :meth:`WarehouseTransaction.load_partition` to join a larger one)."""
        with self.transaction() as warehouse:
            return warehouse.load_partition(definition, rows, partition, input_rows)

    def _load_rows(
        self,
        con: duckdb.DuckDBPyConnection,
        definition: SqlDefinition,
        rows: pa.Table,
        partition: dt.date,
        input_rows: dict[str, int],
    ) -> TableWrite:
        """Replace one partition with computed rows (inside the caller's transaction); the Arrow
        rows are ``_result``, read straight into the table.

        Timestamps with a time zone (Spark's ``TIMESTAMP``) are stored as naive UTC, the
        warehouse's convention, so the table's types do not depend on the engine.
        """
        naive = [
            pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) else f
            for f in rows.schema
        ]
        con.register("_result", rows.cast(pa.schema(naive)))
        written = self._commit_result(con, definition, partition, input_rows)
        con.unregister("_result")
        return written

    def _commit_result(
        self,
        con: duckdb.DuckDBPyConnection,
        definition: SqlDefinition,
        partition: dt.date,
        input_rows: dict[str, int],
    ) -> TableWrite:
        """Replace the partition of ``definition``'s table with the rows of ``_result`` (a view, a
        temporary table or registered Arrow rows), read once.

        Runs inside the caller's open transaction (:meth:`transaction`): nothing here commits. The
        rows are written first and checked after: when some are not of the partition (the count
        written there falls short of the count inserted), it raises and the caller's rollback
        leaves every table as it was.
        """
        table = _identifier(definition.name)
        column = _identifier(definition.partition_column or "")
        columns = [Column(n, t) for n, t, *_ in con.execute("DESCRIBE _result").fetchall()]
        replaced = 0
        if self._table_exists(con, table):
            existing = [Column(n, t) for n, t, *_ in con.execute(f"DESCRIBE main.{table}").fetchall()]
            if existing != columns:
                con.execute(f"DROP TABLE main.{table}")
        if self._table_exists(con, table):
            deleted = con.execute(f"DELETE FROM main.{table} WHERE {column} = ?", [partition])
            replaced = deleted.fetchone()[0]
            inserted = con.execute(f"INSERT INTO main.{table} SELECT * FROM _result").fetchone()[0]
        else:
            inserted = con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM _result").fetchone()[0]
        # rows and an order-independent hash of their content: the partition's data version
        written = con.execute(
            f"SELECT count(*), coalesce(sum(hash(r)), 0) FROM main.{table} AS r WHERE {column} = ?",
            [partition],
        )
        rows, content_hash = written.fetchall()[0]  # fetched to the end: the connection is free
        if inserted != rows:
            raise ValueError(
                f"{table}: {inserted - rows} rows of the result are not in partition {partition} "
                f"(column {column}); the SQL must only produce rows of its own partition"
            )
        return TableWrite(
            table=table,
            rows=rows,
            columns=columns,
            input_rows=input_rows,
            replaced_rows=replaced,
            partition=partition,
            fingerprint=f"{rows}-{int(content_hash):x}",
        )

    def rows(self, view: WarehouseRows) -> pa.Table:
        """The rows a warehouse view shows, as Arrow (another engine's input)."""
        with closing(self.connect(str(self.layout.warehouse_db), read_only=True)) as con:
            self._create_view(con, "_rows", view)
            return con.sql("SELECT * FROM _rows").to_arrow_table()

    def query_views(self, views: dict[str, View], sql: str) -> pa.Table:
        """``sql`` over these views (warehouse rows, lake days) in a read-only warehouse connection:
        DuckDB scans the tables and Parquet files itself, nothing is copied out first."""
        with closing(self.connect(str(self.layout.warehouse_db), read_only=True)) as con:
            for name, view in views.items():
                self._create_view(con, name, view)
            return con.sql(sql).to_arrow_table()

    def empty_lake_events(self) -> pa.Table:
        """No rows, with the lake events schema (a range of days nothing landed for)."""
        with closing(self.connect()) as con:
            self._create_empty_events_view(con, "_empty")
            return con.sql("SELECT * FROM _empty").to_arrow_table()

    def read_frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run a read-only query against the warehouse and return a DataFrame."""
        with closing(self.connect(str(self.layout.warehouse_db), read_only=True)) as con:
            return con.execute(sql, params or []).df()

    def table_exists(self, table: str) -> bool:
        if not self.layout.warehouse_db.exists():
            return False
        with closing(self.connect(str(self.layout.warehouse_db), read_only=True)) as con:
            return self._table_exists(con, _identifier(table))


class WarehouseTransaction:
    """An open warehouse transaction (:meth:`DuckDBEngine.transaction`): partition writes, and
    reads that see them. Another engine (Spark) reads warehouse history and loads its results
    through one, so its step commits all at once too."""

    def __init__(self, engine: DuckDBEngine, con: duckdb.DuckDBPyConnection) -> None:
        self.engine, self.con = engine, con

    def replace_partition(self, write: PartitionWrite) -> TableWrite:
        """Run the write's SQL in DuckDB and replace its partition."""
        return self.engine._replace_partition(self.con, write)

    def load_partition(
        self, definition: SqlDefinition, rows: pa.Table, partition: dt.date, input_rows: dict[str, int]
    ) -> TableWrite:
        """Replace one partition with rows another engine computed (as a DuckDB write would)."""
        return self.engine._load_rows(self.con, definition, rows, partition, input_rows)

    def rows(self, view: WarehouseRows) -> pa.Table:
        """The rows a warehouse view shows, this transaction's writes included, as Arrow."""
        self.engine._create_view(self.con, "_rows", view)
        return self.con.sql("SELECT * FROM _rows").to_arrow_table()

    def empty_lake_events(self) -> pa.Table:
        return self.engine.empty_lake_events()
