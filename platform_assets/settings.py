"""Platform settings: plain values parsed from the environment and validated in one place.

A leaf: it imports nothing from the package, so loading settings loads neither Dagster nor DuckDB.
Nothing runs at import time: :func:`load_settings` is called by the definitions factory and the
CLI, and ``resources.py`` / ``definitions.py`` build resources and policies from these values.
A bad value raises a ``ValueError`` that names its variable, when the settings load.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATA_DIR = Path("~/.platform_assets").expanduser()
ENGINES = ("duckdb", "spark", "auto")
DEFAULT_SENSOR_INTERVAL_SECONDS = 30
# auto: Spark for a step that reads at least this many bytes. Measured in benchmarks/RESULTS.md
# ("engines"): below it, DuckDB on one machine beats Spark.
DEFAULT_AUTO_SPARK_MIN_BYTES = 8 << 30
# auto: Spark ML for training on at least this many feature rows; below it scikit-learn in one
# process is faster (a Spark session alone takes 10-20 s to start).
DEFAULT_AUTO_SPARK_MIN_ROWS = 2_000_000
DEFAULT_DUCKDB_MEMORY_LIMIT = "2GB"
# Where `platform-assets reports serve` answers (PLATFORM_REPORTS_URL): the UI links reports under it.
DEFAULT_REPORTS_URL = "http://127.0.0.1:3001"
# What DuckDB's memory_limit accepts: a positive size with a unit, or a share of the machine's memory.
_MEMORY_UNITS = "b|bytes?|k|kb|kilobytes?|m|mb|megabytes?|g|gb|gigabytes?|t|tb|terabytes?|kib|mib|gib|tib"
_MEMORY_SIZE = re.compile(rf"(?P<number>\d+(\.\d*)?|\.\d+)\s*(?P<unit>{_MEMORY_UNITS}|%)", re.IGNORECASE)
_MIN_FRESHNESS_HOURS = 1 / 60  # Dagster's smallest freshness window: one minute
# The first daily partition (PLATFORM_PARTITIONS_START): set it to the first day of your data.
# The default is the first day of the year the shipped samples start (.ci/materialize_sample and
# the benchmarks build 2025-03-01 on): early enough for them, not years of empty partitions.
DEFAULT_PARTITIONS_START = "2025-01-01"
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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
        if not _is_whole(partitions) or int(partitions) < 1:
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
class QualitySettings:
    """Limits the asset checks apply, each from ``PLATFORM_<FIELD>`` (the ``quality`` resource)."""

    # lake/events:quarantine_share: WARN above the first share, ERROR (blocking) above the second.
    quarantine_warn_share: float = 0.01
    quarantine_error_share: float = 0.25
    # lake/events:no_future_timestamps: events later than now + this many hours are flagged.
    future_tolerance_hours: float = 24.0
    # warehouse/daily_traffic:hourly_5xx_share: an hour with at least this many requests whose
    # share of 5xx answers is above the share is flagged (WARN).
    hourly_5xx_share: float = 0.5
    hourly_5xx_min_requests: int = 20
    # models/conversion_model:metric_floor: the holdout ROC AUC must reach this.
    model_min_roc_auc: float = 0.55

    def __post_init__(self) -> None:
        for name in (
            "quarantine_warn_share",
            "quarantine_error_share",
            "hourly_5xx_share",
            "model_min_roc_auc",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"PLATFORM_{name.upper()}={value!r}: expected a number between 0 and 1")
        warn, error = self.quarantine_warn_share, self.quarantine_error_share
        if not warn < error:
            raise ValueError(
                f"PLATFORM_QUARANTINE_WARN_SHARE={warn!r} must be below "
                f"PLATFORM_QUARANTINE_ERROR_SHARE={error!r}"
            )
        hours = self.future_tolerance_hours
        if not (math.isfinite(hours) and hours >= 0):
            raise ValueError(f"PLATFORM_FUTURE_TOLERANCE_HOURS={hours!r}: expected a number of hours >= 0")
        requests = self.hourly_5xx_min_requests
        if requests < 1:
            raise ValueError(f"PLATFORM_HOURLY_5XX_MIN_REQUESTS={requests!r}: expected an integer >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QualitySettings:
        return cls(**_numbers(env, cls, "PLATFORM_", whole="an integer", number="a number"))


@dataclass(frozen=True)
class FreshnessSettings:
    """Hours after which an asset is stale: daily layers (a day plus two hours of grace) and the
    weekly-retrained model (``PLATFORM_FRESHNESS_DAILY_HOURS`` / ``_MODEL_HOURS``)."""

    daily_hours: float = 26.0
    model_hours: float = 8 * 24.0

    def __post_init__(self) -> None:
        for name in ("daily_hours", "model_hours"):
            hours = getattr(self, name)
            if not (math.isfinite(hours) and hours >= _MIN_FRESHNESS_HOURS):
                raise ValueError(
                    f"PLATFORM_FRESHNESS_{name.upper()}={hours!r}: "
                    "expected a number of hours of at least 1/60"
                )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FreshnessSettings:
        return cls(**_numbers(env, cls, "PLATFORM_FRESHNESS_", number="a number of hours"))


@dataclass(frozen=True)
class RetrainSettings:
    """When monitoring requests a retraining run (``PLATFORM_RETRAIN_<FIELD>``)."""

    # The share the drift alarm was calibrated with (benchmarks/RESULTS.md, "drift alarm").
    drift_share: float = 0.2
    min_roc_auc: float = 0.6
    min_labelled_rows: int = 200
    holdout_days: int = 2  # the retraining run's held-out days (the newest)
    # Level of the two-sided calibration test (benchmarks/RESULTS.md, "concept drift": tuned on
    # seeds 301-304): lower it for fewer false alarms, at the price of later detection.
    calibration_alpha: float = 0.01

    def __post_init__(self) -> None:
        for name in ("drift_share", "min_roc_auc"):
            value = getattr(self, name)
            if _not_number(value) or not (math.isfinite(value) and 0 < value <= 1):
                raise ValueError(f"PLATFORM_RETRAIN_{name.upper()}={value!r}: expected a number in (0, 1]")
        alpha = self.calibration_alpha
        if _not_number(alpha) or not (math.isfinite(alpha) and 0 < alpha <= 0.5):
            raise ValueError(f"PLATFORM_RETRAIN_CALIBRATION_ALPHA={alpha!r}: expected a number in (0, 0.5]")
        for name in ("min_labelled_rows", "holdout_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PLATFORM_RETRAIN_{name.upper()}={value!r}: expected a whole number >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetrainSettings:
        return cls(**_numbers(env, cls, "PLATFORM_RETRAIN_", whole="a whole number", number="a number"))


MLFLOW_OFF = "off"
_MLFLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)
_MLFLOW_SCHEMES = ("file", "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


@dataclass(frozen=True)
class MlflowSettings:
    """Where training runs and model versions are mirrored in MLflow (``PLATFORM_MLFLOW_*``, used
    only with the ``mlflow`` extra). An empty ``tracking_uri`` means the embedded store under the
    data directory (:meth:`locations`); ``off`` turns the mirror off."""

    tracking_uri: str = ""
    registered_model: str = "conversion"
    experiment: str = "conversion_model"

    def __post_init__(self) -> None:
        uri = self.tracking_uri
        if uri and uri != MLFLOW_OFF and urlsplit(uri).scheme not in _MLFLOW_SCHEMES:
            raise ValueError(
                f"PLATFORM_MLFLOW_TRACKING_URI={uri!r}: expected empty (the store under the data "
                f"directory), {MLFLOW_OFF!r}, or a URI with one of the schemes {', '.join(_MLFLOW_SCHEMES)}"
            )
        for name in ("registered_model", "experiment"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _MLFLOW_NAME.fullmatch(value):
                raise ValueError(
                    f"PLATFORM_MLFLOW_{name.upper()}={value!r}: expected 1-100 letters, digits, "
                    "'_', '.' or '-'"
                )

    @property
    def enabled(self) -> bool:
        return self.tracking_uri != MLFLOW_OFF

    def locations(self, data_dir: Path) -> tuple[str, str | None]:
        """The tracking URI and the artifact location of new experiments: by default a SQLite
        file and a folder under ``<data_dir>/mlflow/``, beside the platform's other state (None:
        the tracking server's own artifact store)."""
        if self.tracking_uri:
            return self.tracking_uri, None
        root = Path(data_dir).expanduser().resolve() / "mlflow"
        return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MlflowSettings:
        return cls(
            tracking_uri=env.get("PLATFORM_MLFLOW_TRACKING_URI", "").strip(),
            registered_model=env.get("PLATFORM_MLFLOW_REGISTERED_MODEL", "").strip() or "conversion",
            experiment=env.get("PLATFORM_MLFLOW_EXPERIMENT", "").strip() or "conversion_model",
        )


@dataclass(frozen=True)
class PlatformSettings:
    """Where the platform keeps its state, which engine runs SQL, and the limits it applies."""

    data_dir: Path
    engine: str = "duckdb"
    # auto: Spark when a step reads at least this many bytes (PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES)
    auto_spark_min_bytes: int = DEFAULT_AUTO_SPARK_MIN_BYTES
    # auto: Spark ML when training reads at least this many feature rows (PLATFORM_MODEL_SPARK_MIN_ROWS)
    auto_spark_min_rows: int = DEFAULT_AUTO_SPARK_MIN_ROWS
    spark: SparkSettings = field(default_factory=SparkSettings)
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    duckdb_threads: int = 0  # 0: DuckDB's default, one thread per core
    # Seconds between two ticks of each sensor (short in development and end-to-end tests).
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS
    # The address the monitoring reports are served at (an http(s) URL, no trailing slash).
    reports_url: str = DEFAULT_REPORTS_URL
    # The first day of the daily partitions (YYYY-MM-DD, UTC): where the data starts.
    partitions_start: str = DEFAULT_PARTITIONS_START
    quality: QualitySettings = field(default_factory=QualitySettings)
    freshness: FreshnessSettings = field(default_factory=FreshnessSettings)
    retrain: RetrainSettings = field(default_factory=RetrainSettings)
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"PLATFORM_ENGINE={self.engine!r}: expected one of {', '.join(ENGINES)}")
        interval = self.sensor_interval_seconds
        if _not_whole(interval) or interval < 1:
            raise ValueError(
                f"PLATFORM_SENSOR_INTERVAL_SECONDS={interval!r}: expected a whole number of seconds >= 1"
            )
        if _not_whole(self.auto_spark_min_rows) or self.auto_spark_min_rows < 0:
            raise ValueError(
                f"PLATFORM_MODEL_SPARK_MIN_ROWS={self.auto_spark_min_rows!r}: expected a whole number "
                "of rows >= 0"
            )
        if not _is_memory_size(self.duckdb_memory_limit):
            raise ValueError(
                f"PLATFORM_DUCKDB_MEMORY_LIMIT={self.duckdb_memory_limit!r}: expected a size above 0 such "
                "as 2GB, 512MB or 4GiB, or a share of the machine's memory such as 75%"
            )
        if _not_whole(self.duckdb_threads) or self.duckdb_threads < 0:
            raise ValueError(
                f"PLATFORM_DUCKDB_THREADS={self.duckdb_threads!r}: expected a whole number >= 0 "
                "(0: one thread per core)"
            )
        if not _is_http_url(self.reports_url):
            raise ValueError(
                f"PLATFORM_REPORTS_URL={self.reports_url!r}: expected an http(s) address such as "
                f"{DEFAULT_REPORTS_URL} (no user, query or fragment), where `platform-assets reports serve` "
                "answers"
            )
        if not _is_past_day(self.partitions_start):
            raise ValueError(
                f"PLATFORM_PARTITIONS_START={self.partitions_start!r}: expected a day YYYY-MM-DD, no later "
                "than today (UTC), where the data starts"
            )


def load_settings(environ: Mapping[str, str] | None = None) -> PlatformSettings:
    """Every ``PLATFORM_*`` setting from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("PLATFORM_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    return PlatformSettings(
        data_dir=data_dir,
        engine=env.get("PLATFORM_ENGINE", "duckdb").strip().lower(),
        auto_spark_min_bytes=_auto_threshold(env.get("PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES")),
        auto_spark_min_rows=_whole(
            env, "PLATFORM_MODEL_SPARK_MIN_ROWS", DEFAULT_AUTO_SPARK_MIN_ROWS, "a whole number of rows >= 0"
        ),
        spark=SparkSettings.from_env(env),
        duckdb_memory_limit=env.get("PLATFORM_DUCKDB_MEMORY_LIMIT", "").strip()
        or DEFAULT_DUCKDB_MEMORY_LIMIT,
        duckdb_threads=_whole(
            env, "PLATFORM_DUCKDB_THREADS", 0, "a whole number >= 0 (0: one thread per core)"
        ),
        sensor_interval_seconds=_whole(
            env,
            "PLATFORM_SENSOR_INTERVAL_SECONDS",
            DEFAULT_SENSOR_INTERVAL_SECONDS,
            "a whole number of seconds >= 1",
        ),
        reports_url=env.get("PLATFORM_REPORTS_URL", "").strip().rstrip("/") or DEFAULT_REPORTS_URL,
        partitions_start=env.get("PLATFORM_PARTITIONS_START", "").strip() or DEFAULT_PARTITIONS_START,
        quality=QualitySettings.from_env(env),
        freshness=FreshnessSettings.from_env(env),
        retrain=RetrainSettings.from_env(env),
        mlflow=MlflowSettings.from_env(env),
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
    if not _is_whole(text):
        raise ValueError(
            f"PLATFORM_ENGINE_AUTO_SPARK_MIN_BYTES={raw!r}: expected a size in bytes such as 8G or 500M"
        )
    return int(text) * scale


def _whole(env: Mapping[str, str], name: str, default: int, expected: str) -> int:
    """A whole-number variable: unset or blank = ``default``; no sign, fraction, unit or separator."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    if not _is_whole(raw.strip()):
        raise ValueError(f"{name}={raw!r}: expected {expected}")
    return int(raw)  # the range is checked by the settings object


def _numbers(env: Mapping[str, str], cls: type, prefix: str, *, number: str, whole: str = "") -> dict:
    """The fields of ``cls`` set in ``env`` (``<prefix><FIELD>``; blank = the default), parsed as
    their type; a value that does not parse raises naming its variable."""
    values: dict[str, float | int] = {}
    for item in fields(cls):
        name = f"{prefix}{item.name.upper()}"
        raw = env.get(name, "").strip()
        if not raw:
            continue
        kind = int if item.type in ("int", int) else float
        try:
            values[item.name] = kind(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r}: expected {whole if kind is int else number}") from None
    return values


def _is_memory_size(value: object) -> bool:
    """Whether DuckDB's ``memory_limit`` takes ``value`` as a positive size (a share: up to 100%)."""
    size = _MEMORY_SIZE.fullmatch(value) if isinstance(value, str) else None
    if size is None:
        return False
    number = float(size["number"])
    return 0 < number <= 100 if size["unit"] == "%" else number > 0


def _is_past_day(value: object) -> bool:
    """Whether ``value`` is a real day written YYYY-MM-DD, today (UTC) or before: a later start
    would leave no partition to build."""
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        return False
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    return day <= dt.datetime.now(dt.UTC).date()


def _is_http_url(value: object) -> bool:
    """Whether ``value`` is an http(s) address with a host and nothing a link should not carry."""
    if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
        return False
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return False
    return (
        url.scheme in ("http", "https")
        and bool(url.hostname)
        and url.username is None
        and not url.query
        and not url.fragment
        and not value.endswith("/")
    )


def _is_whole(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _not_number(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


def _not_whole(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)
