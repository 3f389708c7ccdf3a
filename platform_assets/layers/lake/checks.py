"""Lake layer checks, one landed file (partition) at a time, in SQL over its Parquet files.

Each check reads only the file's catalogued fragments and quarantine (plus, for duplicates, the
fragments of other files whose ``ts`` range meets its own), so checking a file does not slow down
as a day accumulates files. ``lines_reconcile`` runs inside the ingest step itself (``assets.py``);
the checks here run after it. A file failing the duplicate check (:data:`EVENT_IDENTITY`) is
withheld from day builds until it is re-ingested.

Design notes: docs/design/lake_checks.md
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from platform_assets.engines.lake_files import lake_types
from platform_assets.engines.resource import PlatformEngine
from platform_assets.layers.common.checks import (
    CheckRun,
    check,
    checks_step,
    offender_result,
    offenders,
    parquet_source,
)
from platform_assets.layers.common.metadata import sample_markdown
from platform_assets.layers.lake.assets import EVENTS, QUARANTINE
from platform_assets.lib.layout import file_id

# Columns and types as the SQL files declare them (``types:`` headers), which both engines write.
EVENT_TYPES: dict[str, str] = lake_types("events")
QUARANTINE_TYPES: dict[str, str] = lake_types("quarantine")
EVENT_IDENTITY = (
    "ts",
    "ip",
    "user_id",
    "method",
    "path",
    "query_string",
    "protocol",
    "status",
    "bytes",
    "latency_ms",
    "referrer",
    "user_agent",
)
# The reader's marker row for a damaged gzip stream: not an input line (see lib/line_reader.py).
STREAM_MARKER = "corrupt compressed stream%"


def _fragments(engine: PlatformEngine, key: str) -> list[Path]:
    """The file's current fragments (withheld ones included: a file's checks always see it)."""
    return engine.layout.fragments_of(file_id(key))


def _events(paths: list[Path], filename: bool = False) -> str:
    return parquet_source(paths, EVENT_TYPES, filename=filename)


def _quarantine(engine: PlatformEngine, key: str) -> str:
    path = engine.layout.quarantine_file(file_id(key))
    return parquet_source([path] if path.exists() else [], QUARANTINE_TYPES)


@check(
    EVENTS,
    "quarantine_share",
    blocking=True,
    description="Share of the file's lines that went to the quarantine: WARN above "
    "PLATFORM_QUARANTINE_WARN_SHARE (default 1%), ERROR and blocking above "
    "PLATFORM_QUARANTINE_ERROR_SHARE (default 25%: not a supported log format, or damaged).",
)
def quarantine_share(run: CheckRun, key: str) -> dg.AssetCheckResult:
    quarantined_lines = (
        f"(SELECT * FROM {_quarantine(run.engine, key)} WHERE reason NOT LIKE '{STREAM_MARKER}')"
    )
    counts = run.lake(
        f"SELECT (SELECT count(*) FROM {_events(_fragments(run.engine, key))}) AS events, "
        f"(SELECT count(*) FROM {quarantined_lines}) AS quarantined",
    ).iloc[0]
    reasons = run.lake(
        f"SELECT reason, count(*) AS lines FROM {quarantined_lines} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    sample = run.lake(
        f"SELECT source_line, reason, raw_line FROM {quarantined_lines} ORDER BY source_line LIMIT 5",
    )
    events, quarantined = int(counts["events"]), int(counts["quarantined"])
    lines = events + quarantined
    share = quarantined / lines if lines else 0.0
    metadata = {
        "lines": lines,
        "events": events,
        "quarantined": quarantined,
        "quarantine_share": share,
        "warn_share": run.quality.quarantine_warn_share,
        "error_share": run.quality.quarantine_error_share,
        "reasons": dg.MetadataValue.json(
            dict(zip(reasons["reason"], map(int, reasons["lines"]), strict=True))
        ),
        "sample": sample_markdown(sample),
    }
    if share > run.quality.quarantine_error_share:
        severity, limit = dg.AssetCheckSeverity.ERROR, run.quality.quarantine_error_share
    elif share > run.quality.quarantine_warn_share:
        severity, limit = dg.AssetCheckSeverity.WARN, run.quality.quarantine_warn_share
    else:
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    return dg.AssetCheckResult(
        passed=False,
        severity=severity,
        metadata=metadata,
        description=f"{quarantined} of {lines} lines ({share:.1%}) of {key} were quarantined, "
        f"above {limit:.1%}",
    )


def _schema_differences(fragment: str, actual: list[tuple[str, str]]) -> list[dict[str, str]]:
    """How a fragment's (column, type) list differs from the documented one."""
    if actual == list(EVENT_TYPES.items()):
        return []
    found = dict(actual)
    rows = [
        (name, kind, found.get(name, "(missing)"))
        for name, kind in EVENT_TYPES.items()
        if found.get(name) != kind
    ]
    rows += [(name, "(not documented)", kind) for name, kind in actual if name not in EVENT_TYPES]
    if not rows:  # the same columns and types in another order
        rows = [("(column order)", ", ".join(EVENT_TYPES), ", ".join(found))]
    return [{"fragment": fragment, "column": c, "documented": d, "actual": a} for c, d, a in rows]


@check(
    EVENTS,
    "schema_as_documented",
    blocking=True,
    description="Every Parquet fragment of the file has exactly the columns documented in "
    "sql/lake/events.sql, in that order and with the documented types (header 'types').",
)
def schema_as_documented(run: CheckRun, key: str) -> dg.AssetCheckResult:
    fragments = _fragments(run.engine, key)
    differences: list[dict[str, str]] = []
    for fragment in fragments:
        described = run.lake(f"DESCRIBE SELECT * FROM {_events([fragment])}")
        columns = zip(described["column_name"], described["column_type"], strict=True)
        differences += _schema_differences(fragment.name, [(str(n), str(t)) for n, t in columns])
    return dg.AssetCheckResult(
        passed=not differences,
        metadata={
            "fragments": len(fragments),
            "fragments_differing": len({d["fragment"] for d in differences}),
            "documented": dg.MetadataValue.json(EVENT_TYPES),
            "differences": sample_markdown(pd.DataFrame(differences), limit=20),
        },
        description=None
        if not differences
        else f"{len(differences)} column differences from sql/lake/events.sql",
    )


@check(
    EVENTS,
    "no_duplicate_events",
    blocking=True,
    description="No event of the file also appears, the same day, in another landed file (same time, "
    "client, user, request, status, bytes, latency, referrer and agent: overlapping exports, the same "
    "lines recompressed), and no line of the file is stored twice. A failing file is withheld from "
    "day builds (not counted twice) until it is re-ingested.",
)
def no_duplicate_events(run: CheckRun, key: str) -> dg.AssetCheckResult:
    catalog = run.engine.layout.catalog
    current = catalog.current(file_id(key))
    mine = [f.path for f in current.fragments] if current else []
    others = [f.path for f in catalog.overlapping(file_id(key))] if mine else []
    same_event = " AND ".join(
        ["m.event_date = o.event_date"] + [f"m.{c} IS NOT DISTINCT FROM o.{c}" for c in EVENT_IDENTITY]
    )
    pairs = f"{_events(mine)} AS m JOIN {_events(others)} AS o ON {same_event}"
    twins = run.lake(
        f"SELECT m.source_line, m.ts, m.ip, m.method, m.path, m.status, min(o.source_file) AS also_in, "
        f"count(*) OVER () AS offending FROM {pairs} "
        "GROUP BY m.source_line, m.ts, m.ip, m.method, m.path, m.status ORDER BY m.source_line LIMIT 5",
    )
    by_file = run.lake(
        f"SELECT o.source_file AS other_file, count(DISTINCT m.source_line) AS events FROM {pairs} "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    repeated = run.lake(
        f"SELECT source_line, count(*) AS copies, count(*) OVER () AS offending FROM {_events(mine)} "
        "GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5",
    )
    duplicated, twin_sample = offenders(twins)
    repeated_lines, repeated_sample = offenders(repeated)
    description = None
    withheld = False
    if duplicated or repeated_lines:
        files = ", ".join(by_file["other_file"].head(3))
        description = (
            f"{duplicated} events of {key} also appear in {files or 'no other file'}; "
            f"{repeated_lines} lines stored more than once"
        )
        # Leave nothing for later day builds to count twice (they read only visible files).
        withheld = current is not None and catalog.withhold(current.fid, current.generation, description)
        if withheld:
            description += "; the file is withheld from day builds until it is re-ingested"
    return dg.AssetCheckResult(
        passed=not (duplicated or repeated_lines),
        metadata={
            "duplicate_events": duplicated,
            "lines_stored_twice": repeated_lines,
            "duplicates_by_file": dg.MetadataValue.json(
                dict(zip(by_file["other_file"], map(int, by_file["events"]), strict=True))
            ),
            "other_fragments_compared": len(others),
            "withheld": withheld,
            "identity": dg.MetadataValue.json(list(EVENT_IDENTITY)),
            "sample": twin_sample,
            "sample_lines_stored_twice": repeated_sample,
        },
        description=description,
    )


@check(
    EVENTS,
    "timestamps_in_partition_day",
    blocking=True,
    description="Each fragment under lake/events/date=D/ holds only events of UTC day D: ts and "
    "event_date both fall on D (and neither is NULL).",
)
def timestamps_in_partition_day(run: CheckRun, key: str) -> dg.AssetCheckResult:
    fragments = _fragments(run.engine, key)
    rows = run.lake(
        "WITH e AS (SELECT *, CAST(regexp_extract(filename, 'date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) AS DATE) "
        f"AS folder_day FROM {_events(fragments, filename=True)}) "
        "SELECT folder_day, event_date, ts, source_line, count(*) OVER () AS offending FROM e "
        "WHERE ts IS NULL OR event_date IS DISTINCT FROM folder_day OR CAST(ts AS DATE) <> folder_day "
        "ORDER BY source_line LIMIT 5",
    )
    return offender_result(
        rows,
        "events_outside_their_day",
        "{count} events are stored under another day's folder",
        fragments=len(fragments),
    )


@check(
    EVENTS,
    "no_future_timestamps",
    blocking=False,
    description="No event is later than now + PLATFORM_FUTURE_TOLERANCE_HOURS (default 24 h): a "
    "shipper with a wrong clock (WARN; such days are not built until they exist).",
)
def no_future_timestamps(run: CheckRun, key: str) -> dg.AssetCheckResult:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    limit = now + dt.timedelta(hours=run.quality.future_tolerance_hours)
    rows = run.lake(
        "SELECT source_line, ts, ip, path, count(*) OVER () AS offending "
        f"FROM {_events(_fragments(run.engine, key))} WHERE ts > ? ORDER BY ts DESC LIMIT 5",
        [limit],
    )
    return offender_result(
        rows,
        "future_events",
        f"{{count}} events are later than {limit:%Y-%m-%d %H:%M} UTC",
        severity=dg.AssetCheckSeverity.WARN,
        latest_allowed=limit.isoformat(sep=" ", timespec="seconds"),
        tolerance_hours=run.quality.future_tolerance_hours,
    )


@check(
    QUARANTINE,
    "rows_account_for_lines",
    blocking=True,
    description="Every quarantine row names this file, a line number >= 1 and a reason; no line is "
    "quarantined twice, and no quarantined line is also an event (so lines_reconcile's sum is exact).",
)
def quarantine_rows_account_for_lines(run: CheckRun, key: str) -> dg.AssetCheckResult:
    rows = run.lake(
        "WITH q AS (SELECT *, count(*) OVER (PARTITION BY source_line) AS copies "
        f"FROM {_quarantine(run.engine, key)}), "
        f"e AS (SELECT DISTINCT source_line FROM {_events(_fragments(run.engine, key))}), "
        "checked AS (SELECT q.source_line, q.reason, concat_ws('; ', "
        "CASE WHEN q.reason IS NULL OR q.reason = '' THEN 'no reason' END, "
        "CASE WHEN q.source_file IS DISTINCT FROM ? THEN 'names another file' END, "
        "CASE WHEN q.source_line IS NULL OR q.source_line < 1 THEN 'no valid line number' END, "
        "CASE WHEN q.copies > 1 THEN 'line quarantined twice' END, "
        "CASE WHEN e.source_line IS NOT NULL THEN 'line is also an event' END) AS problem "
        "FROM q LEFT JOIN e ON q.source_line = e.source_line) "
        "SELECT *, count(*) OVER () AS offending FROM checked WHERE problem <> '' "
        "ORDER BY source_line LIMIT 5",
        [key],
    )
    return offender_result(
        rows, "offending_rows", f"{{count}} quarantine rows do not account for a line of {key}"
    )


CHECKS = [
    quarantine_share,
    schema_as_documented,
    no_duplicate_events,
    timestamps_in_partition_day,
    no_future_timestamps,
    quarantine_rows_account_for_lines,
]
lake_checks = checks_step("lake_checks", CHECKS)
