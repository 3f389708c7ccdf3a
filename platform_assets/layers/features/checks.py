"""Feature checks, per day: header-driven keys, no label leakage (the day's rows against whole
sessions recomputed in DuckDB SQL from the raw lake Parquet, apart from the feature SQL), the class
balance, and columns that carry no information.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from platform_assets.layers.common.checks import (
    CheckRun,
    check,
    check_days,
    checks_step,
    offender_result,
    parquet_source,
)
from platform_assets.layers.common.names import FEATURES_GROUP
from platform_assets.layers.common.sql_checks import (
    identifier,
    partition_range_rows,
    partition_rows,
    table_checks,
)
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.layers.features.leakage import HISTORY_DAYS, event_window, find_leaks
from platform_assets.layers.features.visitor_history import VISITOR_HISTORY, history_days
from platform_assets.layers.lake.checks import EVENT_TYPES
from platform_assets.lib.ml.feature_spec import FEATURE_SPEC
from platform_assets.serving.online_store import read_pointer, store_root
from platform_assets.sql import load

FEATURES_SQL = load("features/session_features")
# Calendar columns are constant within one day by construction.
VARYING_COLUMNS = tuple(c for c in FEATURE_SPEC.features if c not in FEATURE_SPEC.calendar)
# Days of a backfill range the leakage check judges per read of the lake: each pass reads these
# days' event windows at once (the days plus 30), which bounds its memory as a range grows.
LEAKAGE_DAYS_PER_PASS = 7


@check_days(
    SESSION_FEATURES,
    "no_label_leakage",
    blocking=True,
    description="Every row is one whole session, on the day it began, known at its start: the "
    "sessions are recomputed in DuckDB SQL from the raw lake events (all events of a session id, "
    "after midnight included), apart from the feature SQL; each row must be a session begun that "
    "day, with its first event's time, entry and visitor, the whole session's conversion as label, "
    f"and a history of exactly the visitor's non-bot sessions begun in the {HISTORY_DAYS} days "
    "before that had ENDED before it started. Sessions begun that day without a row fail too.",
)
def no_label_leakage(run: CheckRun, days: Sequence[str]) -> dict[str, dg.AssetCheckResult]:
    """Days of a range are judged together, up to :data:`LEAKAGE_DAYS_PER_PASS` per pass: their
    event windows overlap, so one read of the lake serves them all."""
    results: dict[str, dg.AssetCheckResult] = {}
    ordered = sorted(days)
    features = partition_range_rows(FEATURES_SQL)
    for start in range(0, len(ordered), LEAKAGE_DAYS_PER_PASS):
        chunk = ordered[start : start + LEAKAGE_DAYS_PER_PASS]
        first, last = dt.date.fromisoformat(chunk[0]), dt.date.fromisoformat(chunk[-1])
        events = parquet_source(
            run.engine.layout.days_fragments(event_window(first)[0], event_window(last)[1]), EVENT_TYPES
        )
        leaks = find_leaks(run.warehouse, features, events, first, [chunk[0], chunk[-1]], last_day=last)
        for day in chunk:
            date = dt.date.fromisoformat(day)
            rows = leaks.rows[leaks.rows["event_date"] == date].drop(columns=["event_date"])
            kinds = rows["problem"].str.split("; ").explode().value_counts() if len(rows) else {}
            rows = rows.assign(offending=len(rows))
            results[day] = offender_result(
                rows.head(5),
                "leaking_rows",
                "{count} feature rows disagree with the whole sessions of the lake events",
                rows=leaks.feature_rows_by_day.get(date, 0),
                lake_events=leaks.lake_events,
                problems=dg.MetadataValue.json({str(k): int(n) for k, n in dict(kinds).items()}),
            )
    return results


@check(
    SESSION_FEATURES,
    "class_balance",
    blocking=False,
    description="Advisory (WARN): records rows, positives and the positive rate of the day's label; "
    "warns when the day has no rows, a single class, or labels other than 0/1.",
)
def class_balance(run: CheckRun, day: str) -> dg.AssetCheckResult:
    counts = run.warehouse(
        "SELECT count(*) AS rows, count(*) FILTER (WHERE label = 1) AS positives, "
        "count(*) FILTER (WHERE label = 0) AS negatives, "
        "count(*) FILTER (WHERE label IS NULL OR label NOT IN (0, 1)) AS invalid_labels "
        f"FROM {partition_rows(FEATURES_SQL)}",
        [day],
    ).iloc[0]
    rows, positives, negatives, invalid = (
        int(counts[c]) for c in ("rows", "positives", "negatives", "invalid_labels")
    )
    passed = positives > 0 and negatives > 0 and invalid == 0
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows": rows,
            "positives": positives,
            "negatives": negatives,
            "invalid_labels": invalid,
            "positive_rate": positives / rows if rows else 0.0,
        },
        description=None
        if passed
        else f"{rows} rows: {positives} positive, {negatives} negative, {invalid} invalid labels",
    )


@check(
    SESSION_FEATURES,
    "no_constant_columns",
    blocking=False,
    description="Advisory (WARN): every model feature takes at least two values that day (NULL "
    "counts as a value); calendar columns, constant within a day by construction, are left out.",
)
def no_constant_columns(run: CheckRun, day: str) -> dg.AssetCheckResult:
    distinct = ", ".join(
        f"count(DISTINCT {c}) + max(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END) AS {c}"
        for c in map(identifier, VARYING_COLUMNS)
    )
    counts = run.warehouse(
        f"SELECT count(*) AS _rows, {distinct} FROM {partition_rows(FEATURES_SQL)}", [day]
    ).iloc[0]
    rows = int(counts["_rows"])
    values = {c: int(counts[c]) if rows else 0 for c in VARYING_COLUMNS}
    constant = [c for c, n in values.items() if rows and n < 2]
    return dg.AssetCheckResult(
        passed=not constant,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows": rows,
            "constant_columns": dg.MetadataValue.json(constant),
            "distinct_values": dg.MetadataValue.json(values),
        },
        description=None if not constant else f"constant that day: {', '.join(constant)}",
    )


@check(
    VISITOR_HISTORY,
    "one_row_per_whole_session",
    blocking=True,
    description="The day's online-store file holds exactly one row per non-bot session of the "
    "warehouse's sessions mart whose first row falls in the history window (counted from the mart "
    "apart from the store query), with no session twice and no row without a visitor. A day older "
    "than the one the store serves passes as superseded (a range run publishes its newest day only).",
)
def one_row_per_whole_session(run: CheckRun, day: str) -> dg.AssetCheckResult:
    date = dt.date.fromisoformat(day)
    root = store_root(run.engine.layout.root)
    pointer = read_pointer(root) or {}
    if str(pointer.get("day", "")) > day:  # a later day is served: this one's file never will be
        return dg.AssetCheckResult(
            passed=True,
            metadata={"superseded_by": str(pointer["day"])},
            description=f"{day}: the store serves {pointer['day']}; this day's rows are not served",
        )
    published = sorted(root.glob(f"{date.isoformat()}.*.parquet"))
    if not published:
        return dg.AssetCheckResult(passed=False, description=f"no online-store file published for {day}")
    newest = max(published, key=lambda p: p.stat().st_mtime_ns)
    stored = run.lake(
        "SELECT count(*) AS rows, count(DISTINCT session_id) AS sessions, "
        "count(*) FILTER (WHERE visitor_id IS NULL) AS without_visitor FROM read_parquet(?)",
        [str(newest)],
    ).iloc[0]
    first = date - dt.timedelta(days=history_days())
    expected = int(
        run.warehouse(
            "SELECT count(*) AS n FROM (SELECT session_id, "
            "arg_min(coalesce(is_bot, false), event_date) AS bot FROM sessions "
            "WHERE event_date BETWEEN ? AND ? GROUP BY session_id) WHERE NOT bot",
            [first, date],
        ).iloc[0]["n"]
        if run.engine.table_exists("sessions")
        else 0
    )
    rows, sessions, orphans = (int(stored[c]) for c in ("rows", "sessions", "without_visitor"))
    return dg.AssetCheckResult(
        passed=rows == expected == sessions and orphans == 0,
        metadata={"rows": rows, "mart_sessions": expected, "file": newest.name, "without_visitor": orphans},
    )


CHECKS = [
    *table_checks(FEATURES_SQL, FEATURES_GROUP),
    no_label_leakage,
    class_balance,
    no_constant_columns,
    one_row_per_whole_session,
]
feature_checks = checks_step("features_checks", CHECKS)
