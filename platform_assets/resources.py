"""Resources by role, built from settings: the one place that maps an environment to resources."""

from dataclasses import asdict

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.resource import PlatformEngine
from platform_assets.engines.spark import SparkEngine
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.common.thresholds import QualityThresholds
from platform_assets.settings import PlatformSettings


def build_engine(settings: PlatformSettings) -> PlatformEngine:
    """The ``engine`` resource: DuckDB for the warehouse (and small inputs), Spark as configured;
    one DuckDB engine holds the warehouse, and Spark loads its results through it."""
    data_dir = str(settings.data_dir)
    spark = settings.spark
    warehouse = DuckDBEngine(
        data_dir=data_dir, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads
    )
    return PlatformEngine(
        kind=settings.engine,
        auto_spark_min_bytes=settings.auto_spark_min_bytes,
        auto_spark_min_rows=settings.auto_spark_min_rows,
        duckdb=warehouse,
        spark=SparkEngine(
            data_dir=data_dir,
            warehouse=warehouse,
            master=spark.master,
            driver_memory=spark.driver_memory,
            executor_memory=spark.executor_memory,
            shuffle_partitions=spark.shuffle_partitions,
            lake_uri=spark.lake_uri,
            conf=spark.conf,
        ),
    )


def build_resources(settings: PlatformSettings) -> dict[str, object]:
    """``engine`` runs SQL over the lake and warehouse; ``storage`` holds landed files, models, reports;
    ``quality`` holds the asset checks' thresholds."""
    return {
        "engine": build_engine(settings),
        "storage": PlatformStorage(data_dir=str(settings.data_dir), reports_url=settings.reports_url),
        "quality": QualityThresholds(**asdict(settings.quality)),
    }
