"""Spark engine: the platform's SQL on Spark (local, standalone, YARN or Kubernetes master).

The session comes from dagster-pyspark (:class:`dagster_pyspark.LazyPySparkResource`): it starts
on first use, once per run, and :meth:`SparkEngine.stop` ends it when the run is over. Before the
JVM starts, the settings are checked (master URL, Java, a reachable standalone master, the lake
path) so a mistake ends in a message that names the setting to fix, not a Java stack trace.

Marts and features: Spark runs the shared SQL over the lake's Parquet files (and over the rows of
warehouse tables it reads), and the partition's result is loaded into ``warehouse.duckdb`` in one
transaction by the DuckDB engine the Spark engine is given (``warehouse``, the same one the facade
reads through), so every table is read the same way whichever engine built it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import PrivateAttr

from platform_assets.engines.base import (
    IngestResult,
    LakeDays,
    PartitionWrite,
    TableWrite,
    View,
    WarehouseRows,
)
from platform_assets.engines.dialect import spark_prelude
from platform_assets.engines.duckdb import DuckDBEngine, WarehouseTransaction
from platform_assets.engines.spark_ingest import ingest_with_spark
from platform_assets.lib.layout import DataLayout

if TYPE_CHECKING:  # pyspark is the optional [spark] extra; imported when a session starts
    from pyspark.sql import DataFrame, SparkSession

_MASTER = re.compile(
    r"^(local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?"
    r"|spark://[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})*"
    r"|yarn"
    r"|k8s://https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/\S*)?)$"
)
# JVM sizes as Spark reads them: 512m, 2g, 2gb, 1t ... (b, k, m, g, t, p, optionally with b)
_MEMORY = re.compile(r"^[1-9][0-9]*([kmgtp]b?|b)?$", re.IGNORECASE)


class SparkConfigError(ValueError):
    """A Spark setting that cannot work; the message names the setting (environment variable)."""


def java_executable() -> str | None:
    """The ``java`` Spark would start: ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which("java")


class SparkEngine(dg.ConfigurableResource):
    """Runs the platform's SQL on Spark; the session is created on first use and stopped by ``stop``.

    ``lake_uri`` is where Spark reads the lake (default: the local lake under ``data_dir``); on a
    cluster it is a URI every executor can read, such as ``s3a://bucket/lake`` or
    ``hdfs:///platform/lake``, holding the same ``events/date=D/`` layout. ``warehouse`` is the
    DuckDB engine of ``warehouse.duckdb``: it loads Spark's results, and ingests the gzip files
    Spark cannot read to their end.
    """

    data_dir: str
    warehouse: DuckDBEngine
    master: str = "local[*]"
    driver_memory: str = "2g"
    executor_memory: str = "2g"
    shuffle_partitions: int = 8
    lake_uri: str = ""
    conf: dict[str, str] = {}
    connect_timeout_seconds: float = 5.0

    _session: Any = PrivateAttr(default=None)

    @property
    def name(self) -> str:
        return "spark"

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    # -- settings and session -----------------------------------------------------------------

    def lake_root(self) -> str:
        return self.lake_uri.rstrip("/") or str(self.layout.lake)

    def spark_config(self) -> dict[str, str]:
        """The Spark configuration the session is built with (``conf`` entries win)."""
        config = {
            "spark.master": self.master,
            "spark.app.name": "platform_assets",
            "spark.driver.memory": self.driver_memory,
            "spark.executor.memory": self.executor_memory,
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.sources.partitionOverwriteMode": "dynamic",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            # the driver runs in this process: executors and Python workers use this interpreter
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
        }
        config.update(self.conf)
        return config

    def validate(self) -> None:
        """Check the settings before a JVM starts; raise :class:`SparkConfigError` naming the fix."""
        if not _MASTER.match(self.master):
            raise SparkConfigError(
                f"PLATFORM_SPARK_MASTER={self.master!r} is not a Spark master URL: expected local[*], "
                "local[N], spark://HOST:PORT, yarn or k8s://https://HOST:PORT"
            )
        for setting, value in (
            ("PLATFORM_SPARK_DRIVER_MEMORY", self.driver_memory),
            ("PLATFORM_SPARK_EXECUTOR_MEMORY", self.executor_memory),
        ):
            if not _MEMORY.match(value):
                raise SparkConfigError(f"{setting}={value!r}: expected a size such as 512m or 2g")
        if self.shuffle_partitions < 1:
            raise SparkConfigError(
                f"PLATFORM_SPARK_SHUFFLE_PARTITIONS={self.shuffle_partitions}: expected a whole number >= 1"
            )
        if java_executable() is None:
            where = (
                f"JAVA_HOME={os.environ['JAVA_HOME']!r} has no bin/java"
                if os.environ.get("JAVA_HOME")
                else "no `java` on PATH and JAVA_HOME is not set"
            )
            raise SparkConfigError(
                f"Spark needs a Java runtime (17): {where}. Install a JDK and set JAVA_HOME, "
                "or run with PLATFORM_ENGINE=duckdb"
            )
        if self.master.startswith("spark://"):
            for address in self.master[len("spark://") :].split(","):
                host, _, port = address.rpartition(":")
                try:
                    socket.create_connection(
                        (host.strip("[]"), int(port)), self.connect_timeout_seconds
                    ).close()
                except OSError as error:
                    raise SparkConfigError(
                        f"cannot reach the Spark master at spark://{address} (PLATFORM_SPARK_MASTER): "
                        f"{error.strerror or error}. Start the cluster, or point the setting at a "
                        "running master"
                    ) from None
        lake = self.lake_root()
        if "://" not in lake and not Path(lake).is_dir():
            raise SparkConfigError(
                f"PLATFORM_SPARK_LAKE_URI: the lake path {lake!r} does not exist (ingest a file first, "
                "or point the setting at the lake, e.g. s3a://bucket/lake)"
            )

    def session(self) -> SparkSession:
        """The run's Spark session, started on first use (settings validated first) with the
        shared SQL functions registered once."""
        if self._session is None:
            self.validate()
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            from dagster_pyspark import LazyPySparkResource

            spark = LazyPySparkResource(spark_config=self.spark_config()).spark_session
            master = spark.sparkContext.master
            if master != self.master:  # getOrCreate handed back a session someone else started
                dg.get_dagster_logger().warning(
                    f"a Spark session with master {master!r} was already active in this process: "
                    f"using it instead of PLATFORM_SPARK_MASTER={self.master!r}"
                )
            for statement in spark_prelude():
                spark.sql(statement)
            self._session = spark  # only once it really started, so stop() never starts one
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None

    def stop(self) -> None:
        """Stop the session if this resource started one (the end of a run)."""
        session, self._session = self._session, None
        if session is not None:
            session.stop()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.stop()

    # -- lake ---------------------------------------------------------------------------------

    def ingest_log_file(self, path: str, source_file: str, fid: str) -> IngestResult:
        """Parse one landed file into the local lake with Spark (see :mod:`.spark_ingest`)."""
        spark, lake = self.session(), self.layout.lake
        if self.lake_uri and Path(self.lake_uri.removeprefix("file://")).resolve() != lake.resolve():
            raise ValueError(
                f"PLATFORM_SPARK_LAKE_URI={self.lake_uri!r}: Spark ingestion writes the local lake under "
                f"PLATFORM_DATA_DIR ({lake}); ingest with PLATFORM_ENGINE=duckdb, or leave the "
                "setting empty, when the lake lives elsewhere"
            )
        return ingest_with_spark(spark, self.layout, path, source_file, fid, fallback=self.warehouse)

    # -- reading ------------------------------------------------------------------------------

    def _exists(self, spark: SparkSession, uri: str) -> bool:
        """Whether ``uri`` exists, asked of Hadoop's file system (local, s3a, hdfs alike)."""
        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path)

    def lake_days(self, spark: SparkSession, view: LakeDays) -> DataFrame | None:
        """The lake table's rows for the view's days, or None when no day has data; the files
        are those the lake catalog (under the local ``data_dir`` lake) names as current."""
        if view.table != "events":
            raise ValueError(f"unknown lake table {view.table!r}")
        # The catalog's current files, by name (never a folder listing, which would also pick up
        # a file half-published or withheld); relative to the lake, so under ``lake_uri`` too.
        lake = self.layout.lake
        root = self.lake_root()
        files = [
            f"{root}/{p.relative_to(lake).as_posix()}"
            for p in self.layout.days_fragments(view.first, view.last)
        ]
        if not files:
            return None
        return spark.read.option("mergeSchema", "false").parquet(*files)

    # -- warehouse ----------------------------------------------------------------------------

    def write_partitions(self, writes: Iterable[PartitionWrite]) -> Iterator[TableWrite]:
        """Run each write's SQL on Spark and load its rows into the warehouse partition.

        Lake days are read by Spark from ``lake_uri``; warehouse rows a query reads (history)
        come from the warehouse as Arrow. The partition's result returns to the driver as Arrow
        (a day of a mart: aggregated, at most one row per session) and ``warehouse`` loads it in
        one transaction for all the writes (history reads see the days written before them),
        with the same partition check and content fingerprint as a DuckDB write. Nothing but the
        lake has to be shared storage on a cluster.
        """
        spark = self.session()
        with self.warehouse.transaction() as transaction:
            written = []
            for write in writes:
                input_rows = {}
                for view_name, view in write.views.items():
                    frame = self._view_frame(spark, view, transaction)
                    frame.createOrReplaceTempView(view_name)
                    input_rows[view_name] = frame.count()
                result = spark.sql(write.definition.sql).toArrow()
                written.append(
                    transaction.load_partition(write.definition, result, write.partition, input_rows)
                )
        yield from written

    def _view_frame(self, spark: SparkSession, view: View, warehouse: WarehouseTransaction) -> DataFrame:
        if isinstance(view, LakeDays):
            frame = self.lake_days(spark, view)
            # no day has data: the lake schema with no rows, as DuckDB's empty view has
            return frame if frame is not None else spark.createDataFrame(warehouse.empty_lake_events())
        if isinstance(view, WarehouseRows):
            return spark.createDataFrame(warehouse.rows(view))
        raise TypeError(view)  # pragma: no cover - exhaustive
