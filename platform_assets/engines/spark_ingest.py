"""Lake ingestion on Spark: one landed file parsed by the shared SQL into the same lake as DuckDB's.

For files too large for one machine. :func:`ingest_with_spark` writes the files, rows and counts
:meth:`DuckDBEngine.ingest_log_file` writes (pinned by ``test_spark_lake_parity.py``); how lines
are numbered and decoded, what storage it needs and where it differs on unusual input are in
``docs/design/spark_ingest.md``.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pyarrow.parquet as pq

from platform_assets.engines.base import Column, Engine, IngestResult
from platform_assets.engines.dialect import spark_prelude
from platform_assets.engines.lake_files import duckdb_type, lake_types, publish_staged_ingest
from platform_assets.lib.atomic import staging_dir
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.line_reader import is_gzip
from platform_assets.sql import load

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Lines longer than this are rejected by lake/parse_lines; the only place line_bytes matters.
_MAX_LINE_BYTES = 1 << 20
_SPARK_TYPES = {
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "DATE": "DATE",
    "VARCHAR": "STRING",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE",
}

# One token of a line's hex (upper case, as hex() writes it): a well-formed UTF-8 sequence as
# Python's strict decoder accepts it (no overlongs, surrogates or code points past U+10FFFF), else
# a single byte. Tokens are contiguous because the last alternative matches at every position.
_CONT = "[89AB][0-9A-F]"
_UTF8_TOKEN = (
    "[0-7][0-9A-F]"
    f"|C[2-9A-F]{_CONT}|D[0-9A-F]{_CONT}"
    f"|E0[AB][0-9A-F]{_CONT}|E[1-9A-CEF]{_CONT}{_CONT}|ED[89][0-9A-F]{_CONT}"
    f"|F0[9AB][0-9A-F]{_CONT}{_CONT}|F[1-3]{_CONT}{_CONT}{_CONT}|F48[0-9A-F]{_CONT}{_CONT}"
    "|[0-9A-F]{2}"
)
# The line's bytes with each byte that is not part of valid UTF-8 written as \xNN (lower case),
# exactly what line_reader's value.decode("utf-8", "backslashreplace") gives.
_ESCAPED_LINE = (
    f"array_join(transform(regexp_extract_all(hex(value), '{_UTF8_TOKEN}', 0), "
    "t -> CASE WHEN length(t) = 2 AND t >= '80' THEN concat(chr(92), 'x', lower(t)) "
    "ELSE decode(unhex(t), 'UTF-8') END), '')"
)


class _UnreadableInput(Exception):
    """Spark could not read the landed file to its end."""


def _log():
    return dg.get_dagster_logger("platform_assets.spark_ingest")


def _child_session(spark: SparkSession) -> SparkSession:
    session = spark.newSession()
    session.conf.set("spark.sql.parser.escapedStringLiterals", "true")
    for statement in spark_prelude():
        session.sql(statement)
    return session


def _ends_with_newline(path: Path, compressed: bool) -> bool:
    """Whether the (decompressed) file's last byte is ``\\n``."""
    if not compressed:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    last = b"\n"
    with gzip.open(path, "rb") as f:
        while block := f.read(1 << 20):
            last = block[-1:]
    return last == b"\n"


def _numbered_lines(session: SparkSession, link: Path) -> DataFrame:
    from pyspark.sql import functions as F

    return (
        session.read.option("lineSep", "\n")
        .text(str(link))
        .select(
            F.input_file_block_start().alias("_block"),
            F.monotonically_increasing_id().alias("_row"),
            "value",
        )
    )


def _raw_lines(
    session: SparkSession, lines: DataFrame, source_file: str, blocks: list, last_line_bytes_extra: int
) -> DataFrame:
    """The ``raw_lines`` view of line_reader's columns, with exact 1-based line numbers."""
    from pyspark.sql import functions as F

    offsets, base = [], 0
    for block in sorted(blocks, key=lambda b: b["_block"]):
        offsets.append((block["_block"], block["first"], base))
        base += block["n"]
    total = base
    offsets_frame = session.createDataFrame(offsets, "_block BIGINT, _first BIGINT, _base BIGINT")
    numbered = lines.join(F.broadcast(offsets_frame), "_block").select(
        (F.col("_row") - F.col("_first") + F.col("_base") + 1).alias("source_line"), "value"
    )
    valid = "is_valid_utf8(value)"
    return numbered.selectExpr(
        "CAST(:source_file AS STRING) AS source_file".replace(":source_file", _literal(source_file)),
        "source_line",
        f"CASE WHEN {valid} THEN TRIM(TRAILING chr(13) FROM value) END AS text",
        f"CASE WHEN NOT {valid} THEN TRIM(TRAILING chr(13) FROM {_ESCAPED_LINE}) END AS undecodable",
        f"CAST(octet_length(value) + CASE WHEN source_line = {total} THEN {last_line_bytes_extra} "
        "ELSE 1 END AS BIGINT) AS line_bytes",
        "CAST(NULL AS STRING) AS stream_error",
    )


def _literal(value: str) -> str:
    """A string literal read the same with or without escapedStringLiterals (hex when needed)."""
    if all(c.isalnum() or c in " ._-/+=:@,()[]{}~#%&!?" for c in value):
        return "'" + value + "'"
    return f"decode(unhex('{value.encode('utf-8').hex().upper()}'), 'UTF-8')"


def _typed(frame: DataFrame, types: dict[str, str]) -> DataFrame:
    return frame.selectExpr(
        *[f"CAST(`{name}` AS {_SPARK_TYPES[kind]}) AS `{name}`" for name, kind in types.items()]
    )


def _single_file(folder: Path) -> Path:
    parts = sorted(folder.glob("part-*.parquet"))
    if len(parts) != 1:
        raise RuntimeError(f"expected one Parquet file in {folder}, Spark wrote {len(parts)}")
    return parts[0]


def _fall_back(fallback: Engine, path: str, source_file: str, fid: str, why: str) -> IngestResult:
    _log().warning(
        f"Spark could not read {source_file!r} to its end ({why}); ingesting it with "
        f"{fallback.name}, which keeps the lines before the damage and quarantines it"
    )
    return fallback.ingest_log_file(path, source_file, fid)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    causes = [line.strip() for line in text if line.strip().startswith("Caused by:")]
    return (causes[-1] if causes else text[0] if text else type(error).__name__)[:300]


def ingest_with_spark(
    spark: SparkSession,
    layout: DataLayout,
    path: str,
    source_file: str,
    fid: str,
    *,
    fallback: Engine,
) -> IngestResult:
    """Parse one landed file with Spark into the local lake under ``layout`` and publish its
    fragments and quarantine atomically: the same files and counts as DuckDB's ingest. A gzip file
    Spark cannot read to its end is ingested by ``fallback`` (DuckDB) instead.
    """
    from pyspark import StorageLevel

    layout.ensure()
    source = Path(path).resolve()
    compressed = is_gzip(source)
    events_definition, quarantine_definition = load("lake/events"), load("lake/quarantine")
    event_types, quarantine_types = lake_types("events"), lake_types("quarantine")
    session = _child_session(spark)
    parsed = None
    with staging_dir(layout.tmp, "spark-ingest") as stage:
        # A plain name Spark neither globs nor hides, and the suffix that picks Hadoop's codec
        # (compression is decided by content, as the Python reader does, not by the landed name).
        link = stage / ("input.log.gz" if compressed else "input.log")
        os.symlink(source, link)
        lines = _numbered_lines(session, link)
        try:
            blocks = [
                row.asDict()
                for row in lines.groupBy("_block")
                .agg(
                    _count("n"),
                    _min_row("first"),
                    _last_length("last_length"),
                )
                .collect()
            ]
        except Exception as error:  # py4j / captured Spark errors: the read failed
            if compressed:
                return _fall_back(fallback, path, source_file, fid, _first_line(error))
            raise
        last_length = max(blocks, key=lambda b: b["_block"])["last_length"] if blocks else 0
        if compressed and last_length != _MAX_LINE_BYTES:
            last_extra = 1  # the final \n decides nothing here; not worth decompressing again
        else:
            last_extra = 1 if blocks and _ends_with_newline(source, compressed) else 0
        try:
            _raw_lines(session, lines, source_file, blocks, last_extra).createOrReplaceTempView("raw_lines")
            parsed = session.sql(load("lake/parse_lines").sql).persist(StorageLevel.MEMORY_AND_DISK)
            parsed.createOrReplaceTempView("parsed_lines")
            session.sql(load("lake/checked_lines").sql).createOrReplaceTempView("checked_lines")

            events = _typed(session.sql(events_definition.sql), event_types)
            (
                events.withColumn("_day", events["event_date"].cast("string"))
                .repartition("_day")
                .write.partitionBy("_day")
                .parquet(str(stage / "events"))
            )
            _typed(session.sql(quarantine_definition.sql), quarantine_types).coalesce(1).write.parquet(
                str(stage / "quarantine")
            )
        finally:
            if parsed is not None:
                parsed.unpersist()
            for view in ("raw_lines", "parsed_lines", "checked_lines"):
                session.catalog.dropTempView(view)

        staged = {
            folder.name.removeprefix("_day="): _single_file(folder)
            for folder in sorted((stage / "events").glob("_day=*"))
        }
        events_by_day = {day: pq.read_metadata(file).num_rows for day, file in sorted(staged.items())}
        quarantine_file = _single_file(stage / "quarantine")
        reasons = Counter(pq.read_table(quarantine_file, columns=["reason"]).column("reason").to_pylist())
        if staged:
            schema = pq.read_schema(next(iter(staged.values())))
            event_columns = [Column(f.name, duckdb_type(f.type)) for f in schema]
        else:
            event_columns = [Column(name, kind) for name, kind in event_types.items()]
        return publish_staged_ingest(
            layout,
            stage,
            fid=fid,
            source_file=source_file,
            landed=source,
            staged_days=staged,
            events_by_day=events_by_day,
            staged_quarantine=quarantine_file,
            lines=sum(b["n"] for b in blocks),
            reasons=reasons,
            stream_error=None,  # an unreadable file went to the fallback
            event_columns=event_columns,
        )


def _count(name: str):
    from pyspark.sql import functions as F

    return F.count("*").alias(name)


def _min_row(name: str):
    from pyspark.sql import functions as F

    return F.min("_row").alias(name)


def _last_length(name: str):
    from pyspark.sql import functions as F

    return F.max_by(F.octet_length("value"), "_row").alias(name)
