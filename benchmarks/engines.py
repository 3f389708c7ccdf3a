"""The engines the ``engines`` case measures: adding one (Spark) is one entry in ``ENGINES``.

Each entry is ``module:Class``; the class is built with ``data_dir=`` and must offer the
``write_partitions`` of :class:`platform_assets.engines.base.Engine`. Imported only in workers.
"""

from __future__ import annotations

import importlib

ENGINES: dict[str, str] = {
    "duckdb": "platform_assets.engines.duckdb:DuckDBEngine",
}


def make_engine(name: str, data_dir: str):
    """An instance of the registered engine ``name`` over ``data_dir``."""
    module, _, attribute = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)(data_dir=data_dir)
