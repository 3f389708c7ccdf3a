"""Platform settings from the environment, read once by whoever builds the definitions.

Nothing here runs at import time: :func:`load_settings` is called inside the definitions factory
(and by the CLI), so tests build definitions from explicit settings instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.platform_assets").expanduser()
ENGINES = ("duckdb",)
ENVIRONMENTS = ("local",)


@dataclass(frozen=True)
class PlatformSettings:
    """Where the platform keeps its state, which engine runs SQL, and which environment it is."""

    data_dir: Path
    engine: str = "duckdb"
    env: str = "local"
    duckdb_memory_limit: str = "2GB"
    duckdb_threads: int = 0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"PLATFORM_ENGINE={self.engine!r}: expected one of {', '.join(ENGINES)}")
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"PLATFORM_ENV={self.env!r}: expected one of {', '.join(ENVIRONMENTS)}")


def load_settings(environ: Mapping[str, str] | None = None) -> PlatformSettings:
    """Read ``PLATFORM_DATA_DIR``, ``PLATFORM_ENGINE``, ``PLATFORM_ENV`` (and DuckDB limits)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("PLATFORM_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    return PlatformSettings(
        data_dir=data_dir,
        engine=env.get("PLATFORM_ENGINE", "duckdb").strip().lower(),
        env=env.get("PLATFORM_ENV", "local").strip().lower(),
        duckdb_memory_limit=env.get("PLATFORM_DUCKDB_MEMORY_LIMIT", "2GB"),
        duckdb_threads=int(env.get("PLATFORM_DUCKDB_THREADS", "0")),
    )
