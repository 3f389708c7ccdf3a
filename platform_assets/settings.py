"""Platform settings from the environment, read once by whoever builds the definitions.

Nothing here runs at import time: :func:`load_settings` is called inside the definitions factory
(and by the CLI), so tests build definitions from explicit settings instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from platform_assets.engines.resource import DEFAULT_AUTO_SPARK_MIN_BYTES
from platform_assets.layers.common.freshness import FreshnessWindows
from platform_assets.layers.common.thresholds import QualityThresholds
from platform_assets.lib.ml.retraining import RetrainPolicy

DEFAULT_DATA_DIR = Path("~/.platform_assets").expanduser()
ENGINES = ("duckdb", "spark", "auto")
ENVIRONMENTS = ("local",)
DEFAULT_SENSOR_INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class SparkSettings:
    """How the Spark engine connects (``PLATFORM_SPARK_*``); validated when a session starts."""

    master: str = "local[*]"
    driver_memory: str = "2g"
    executor_memory: str = "2g"
    shuffle_partitions: int = 8
    lake_uri: str = ""  # default: the local lake under PLATFORM_DATA_DIR
    conf: dict[str, str] = field(default_factory=dict)  # any other spark.* setting

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SparkSettings:
        conf: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in env.get("PLATFORM_SPARK_CONF", "").split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip().startswith("spark."):
                raise ValueError(
                    f"PLATFORM_SPARK_CONF: {item!r} is not spark.KEY=VALUE (entries are separated by commas)"
                )
            conf[key.strip()] = value.strip()
        partitions = env.get("PLATFORM_SPARK_SHUFFLE_PARTITIONS", "8").strip()
        if not (partitions.isascii() and partitions.isdigit()) or int(partitions) < 1:
            raise ValueError(
                f"PLATFORM_SPARK_SHUFFLE_PARTITIONS={partitions!r}: expected a whole number >= 1"
            )
        return cls(
            master=env.get("PLATFORM_SPARK_MASTER", "local[*]").strip(),
            driver_memory=env.get("PLATFORM_SPARK_DRIVER_MEMORY", "2g").strip(),
            executor_memory=env.get("PLATFORM_SPARK_EXECUTOR_MEMORY", "2g").strip(),
            shuffle_partitions=int(partitions),
            lake_uri=env.get("PLATFORM_SPARK_LAKE_URI", "").strip(),
            conf=conf,
        )


@dataclass(frozen=True)
class PlatformSettings:
    """Where the platform keeps its state, which engine runs SQL, and which environment it is."""

    data_dir: Path
    engine: str = "duckdb"
    # auto: Spark when a step reads at least this many bytes (PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES)
    auto_spark_min_bytes: int = DEFAULT_AUTO_SPARK_MIN_BYTES
    spark: SparkSettings = field(default_factory=SparkSettings)
    env: str = "local"
    duckdb_memory_limit: str = "2GB"
    duckdb_threads: int = 0
    # Seconds between two ticks of each sensor (short in development and end-to-end tests).
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS
    # Asset-check thresholds (PLATFORM_QUARANTINE_WARN_SHARE, ...), validated when built.
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    # Freshness policies' windows (PLATFORM_FRESHNESS_DAILY_HOURS, PLATFORM_FRESHNESS_MODEL_HOURS).
    freshness: FreshnessWindows = field(default_factory=FreshnessWindows)
    # When monitoring requests a retraining run (PLATFORM_RETRAIN_DRIFT_SHARE, ...).
    retrain: RetrainPolicy = field(default_factory=RetrainPolicy)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"PLATFORM_ENGINE={self.engine!r}: expected one of {', '.join(ENGINES)}")
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"PLATFORM_ENV={self.env!r}: expected one of {', '.join(ENVIRONMENTS)}")
        interval = self.sensor_interval_seconds
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f"PLATFORM_SENSOR_INTERVAL_SECONDS={interval!r}: expected a whole number of seconds >= 1"
            )


def load_settings(environ: Mapping[str, str] | None = None) -> PlatformSettings:
    """Read ``PLATFORM_DATA_DIR``, ``PLATFORM_ENGINE``, ``PLATFORM_ENV`` (DuckDB limits, sensor interval)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("PLATFORM_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    return PlatformSettings(
        data_dir=data_dir,
        engine=env.get("PLATFORM_ENGINE", "duckdb").strip().lower(),
        auto_spark_min_bytes=_auto_threshold(env.get("PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES")),
        spark=SparkSettings.from_env(env),
        env=env.get("PLATFORM_ENV", "local").strip().lower(),
        duckdb_memory_limit=env.get("PLATFORM_DUCKDB_MEMORY_LIMIT", "2GB"),
        duckdb_threads=int(env.get("PLATFORM_DUCKDB_THREADS", "0")),
        sensor_interval_seconds=_sensor_interval(env.get("PLATFORM_SENSOR_INTERVAL_SECONDS")),
        quality=QualityThresholds.from_env(env),
        freshness=FreshnessWindows.from_env(env),
        retrain=RetrainPolicy.from_env(env),
    )


def _auto_threshold(raw: str | None) -> int:
    """``PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES``: bytes, with an optional K/M/G/T suffix (powers of 1024)."""
    if raw is None or not raw.strip():
        return DEFAULT_AUTO_SPARK_MIN_BYTES
    text = raw.strip().upper().removesuffix("B")
    scale = 1
    if text and text[-1] in "KMGT":
        scale = 1024 ** ("KMGT".index(text[-1]) + 1)
        text = text[:-1]
    if not (text.isascii() and text.isdigit()):
        raise ValueError(
            f"PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES={raw!r}: expected a size in bytes such as 8G or 500M"
        )
    return int(text) * scale


def _sensor_interval(raw: str | None) -> int:
    """``PLATFORM_SENSOR_INTERVAL_SECONDS``: unset or blank = the default; else an integer >= 1."""
    if raw is None or not raw.strip():
        return DEFAULT_SENSOR_INTERVAL_SECONDS
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):  # no sign, fraction, unit or digit separator
        raise ValueError(f"PLATFORM_SENSOR_INTERVAL_SECONDS={raw!r}: expected a whole number of seconds >= 1")
    return int(text)  # 0 is refused by PlatformSettings
