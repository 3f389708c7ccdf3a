"""Resources by role, built from settings: the one place that maps an environment to resources."""

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.settings import PlatformSettings
from platform_assets.storage import PlatformStorage


def build_resources(settings: PlatformSettings) -> dict[str, object]:
    """``engine`` runs SQL over the lake and warehouse; ``storage`` holds landed files, models, reports;
    ``quality`` holds the asset checks' thresholds."""
    engine = DuckDBEngine(
        data_dir=str(settings.data_dir),
        memory_limit=settings.duckdb_memory_limit,
        threads=settings.duckdb_threads,
    )
    return {
        "engine": engine,
        "storage": PlatformStorage(data_dir=str(settings.data_dir)),
        "quality": settings.quality,
    }
