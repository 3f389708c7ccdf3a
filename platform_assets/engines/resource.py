"""The ``engine`` resource the assets use: DuckDB, Spark, or ``auto`` (Spark for large inputs).

The choice is configuration, never a branch in an asset: ``kind`` comes from ``PLATFORM_ENGINE`` or
a run's ``resources.engine.config.kind``; ``auto`` weighs the bytes a step reads against
``auto_spark_min_bytes``. Both engines implement :class:`~platform_assets.engines.base.Engine`.
Whatever ran, the warehouse stays ``warehouse.duckdb``.

Design notes: docs/design/engine_choice.md
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa

from platform_assets.engines.base import Engine, IngestResult, LakeDays, PartitionWrite, TableWrite, View
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.spark import SparkEngine
from platform_assets.lib.layout import DataLayout
from platform_assets.sql import SqlDefinition

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINE_KINDS = ("duckdb", "spark", "auto")
# Measured in benchmarks/RESULTS.md ("engines"): below this, DuckDB on one machine beats Spark;
# see docs/spark.md ("Why auto defaults to 8 GiB") for the figures behind the default.
DEFAULT_AUTO_SPARK_MIN_BYTES = 8 << 30
# Feature rows from which training goes to Spark ML under ``auto``: below it scikit-learn in one
# process is faster (a Spark session alone takes 10-20 s to start).
DEFAULT_AUTO_SPARK_MIN_ROWS = 2_000_000


class PlatformEngine(dg.ConfigurableResource):
    """Runs ingestion and partition writes on the configured engine; reads the DuckDB warehouse."""

    kind: str = "duckdb"
    auto_spark_min_bytes: int = DEFAULT_AUTO_SPARK_MIN_BYTES
    auto_spark_min_rows: int = DEFAULT_AUTO_SPARK_MIN_ROWS
    duckdb: DuckDBEngine
    spark: SparkEngine

    def uses_spark(self, *, input_bytes: int = 0, rows: int = 0, kind: str | None = None) -> bool:
        """The one ``auto`` rule: Spark for a step that reads at least ``auto_spark_min_bytes`` or
        ``auto_spark_min_rows`` rows. ``kind`` overrides the configured kind (a run's own choice)."""
        kind = self.kind if kind is None else kind
        if kind not in ENGINE_KINDS:
            raise ValueError(
                f"engine kind {kind!r} (PLATFORM_ENGINE or run config resources.engine.config.kind): "
                f"expected one of {', '.join(ENGINE_KINDS)}"
            )
        big = input_bytes >= self.auto_spark_min_bytes or rows >= self.auto_spark_min_rows
        return kind == "spark" or (kind == "auto" and big)

    def choose(self, input_bytes: int) -> Engine:
        """The engine for a step that reads ``input_bytes``."""
        return self.spark if self.uses_spark(input_bytes=input_bytes) else self.duckdb

    def spark_session(self) -> SparkSession:
        """The run's Spark session, started on first use (for Spark ML models and training)."""
        return self.spark.session()

    # -- what the layers ask for --------------------------------------------------------------

    def ingest_log_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one landed file into the lake with the engine its size calls for."""
        size = Path(path).stat().st_size
        engine = self.choose(size)
        result = engine.ingest_log_file(path, source_file, fid)
        return dataclasses.replace(result, engine=engine.name, input_bytes=size)

    def ingest_decision_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one decision-log file into the decision lake: always DuckDB (a server rotates its
        log every few thousand answers, far below what Spark is for)."""
        result = self.duckdb.ingest_decision_file(path, source_file, fid)
        return dataclasses.replace(result, engine=self.duckdb.name, input_bytes=Path(path).stat().st_size)

    def write_partitions(self, writes: Iterable[PartitionWrite]) -> Iterator[TableWrite]:
        """Replace each partition; the engine is chosen once for the batch, by the lake bytes
        its views read (a backfill's days together)."""
        writes = list(writes)
        sizes = [sum(_lake_bytes(self.layout, v) for v in w.views.values()) for w in writes]
        engine = self.choose(sum(sizes))
        for size, result in zip(sizes, engine.write_partitions(writes), strict=True):
            yield dataclasses.replace(result, engine=engine.name, input_bytes=size)

    def write_partition(self, write: PartitionWrite) -> TableWrite:
        return next(iter(self.write_partitions([write])))

    def load_partition(
        self, definition: SqlDefinition, rows: pa.Table, partition: dt.date, input_rows: dict[str, int]
    ) -> TableWrite:
        """Replace one warehouse partition with rows computed in Python (e.g. model scores)."""
        return dataclasses.replace(
            self.duckdb.load_partition(definition, rows, partition, input_rows), engine=self.duckdb.name
        )

    # -- the warehouse is DuckDB whichever engine wrote it --------------------------------------

    @property
    def layout(self) -> DataLayout:
        return self.duckdb.layout

    def connect(self, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return self.duckdb.connect(database, read_only=read_only)

    def read_frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self.duckdb.read_frame(sql, params)

    def table_exists(self, table: str) -> bool:
        return self.duckdb.table_exists(table)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """The Spark session, if this run started one, ends with the run."""
        self.spark.stop()


def _lake_bytes(layout: DataLayout, view: View) -> int:
    """Bytes of lake Parquet a view reads (0 for warehouse rows): what ``auto`` weighs. The
    catalog's current files, the ones the view reads (not leftovers of unfinished ingests)."""
    if not isinstance(view, LakeDays):
        return 0
    return sum(p.stat().st_size for p in layout.days_fragments(view.first, view.last))
