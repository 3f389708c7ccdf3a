"""The engines the ``engines`` case measures: adding one is one entry in ``ENGINES``.

Each entry is ``module:callable``; it is called with ``data_dir=`` and returns the platform's
``engine`` resource (:class:`platform_assets.engines.resource.PlatformEngine`) of that kind, built
from settings as the definitions build it, so every engine is driven the same way:
``engine.write_partitions(writes)`` (Spark loads its results into the DuckDB warehouse the
resource holds). Imported only in workers.
"""

from __future__ import annotations

import importlib

SPARK_MASTER = "local[2]"
SPARK_SHUFFLE_PARTITIONS = "4"

ENGINES: dict[str, str] = {
    "duckdb": "benchmarks.engines:duckdb_engine",
    "spark": "benchmarks.engines:spark_engine",
}


def _platform_engine(data_dir: str, **env: str):
    from platform_assets.resources import build_engine
    from platform_assets.settings import load_settings

    return build_engine(load_settings({"PLATFORM_DATA_DIR": data_dir, **env}))


def duckdb_engine(data_dir: str):
    """``PLATFORM_ENGINE=duckdb``: the warehouse engine writes every partition."""
    return _platform_engine(data_dir, PLATFORM_ENGINE="duckdb")


def spark_engine(data_dir: str):
    """``PLATFORM_ENGINE=spark`` on ``local[2]`` (the machine's cores), 4 shuffle partitions."""
    return _platform_engine(
        data_dir,
        PLATFORM_ENGINE="spark",
        PLATFORM_SPARK_MASTER=SPARK_MASTER,
        PLATFORM_SPARK_SHUFFLE_PARTITIONS=SPARK_SHUFFLE_PARTITIONS,
    )


def make_engine(name: str, data_dir: str):
    """An instance of the registered engine ``name`` over ``data_dir``."""
    module, _, attribute = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)(data_dir=data_dir)
