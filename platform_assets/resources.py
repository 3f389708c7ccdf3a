"""Resources by role, built from settings: the one place that maps an environment to resources."""

from __future__ import annotations

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.settings import PlatformSettings


def build_resources(settings: PlatformSettings) -> dict[str, object]:
    """``engine`` runs SQL and owns the data directory's lake and warehouse."""
    engine = DuckDBEngine(
        data_dir=str(settings.data_dir),
        memory_limit=settings.duckdb_memory_limit,
        threads=settings.duckdb_threads,
    )
    return {"engine": engine}
