"""Feature checks, per day: header-driven keys, no label leakage (verified in SQL against the
``sessions`` mart), the class balance, and columns that carry no information.
"""

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step, offender_result
from platform_assets.layers.common.names import FEATURES_GROUP
from platform_assets.layers.common.sql_checks import identifier, partition_rows, table_checks
from platform_assets.layers.features.assets import SESSION_FEATURES
from platform_assets.lib.ml.feature_spec import FEATURE_SPEC
from platform_assets.sql import load

FEATURES_SQL = load("features/session_features")
HISTORY_DAYS = int(FEATURES_SQL.meta["lookback_days"]["history_sessions"])
# Calendar columns are constant within one day by construction.
VARYING_COLUMNS = tuple(c for c in FEATURE_SPEC.features if c not in FEATURE_SPEC.calendar)

# For each feature row: its session in the sessions mart, and what the visitor's sessions that had
# ENDED before the target started (non-bot, within the history window) allow at most.
_LEAKAGE_SQL = f"""
WITH f AS {partition_rows(FEATURES_SQL)},
allowed AS (
    SELECT f.session_id,
        count(h.session_id) AS ended_sessions,
        count(*) FILTER (WHERE h.converted) AS ended_conversions,
        COALESCE(sum(h.page_views), 0) AS ended_page_views,
        max(h.session_end) AS latest_end
    FROM f LEFT JOIN main.sessions AS h
        ON h.visitor_id = f.visitor_id
        AND h.session_end < f.session_start
        AND h.event_date BETWEEN f.event_date - {HISTORY_DAYS} AND f.event_date
        AND NOT COALESCE(h.is_bot, FALSE)
    GROUP BY f.session_id
),
checked AS (
    SELECT f.session_id, f.session_start, t.session_start AS first_event,
        f.prior_sessions_28d, a.ended_sessions, f.prior_conversions_28d, a.ended_conversions,
        f.days_since_prior_session,
        concat_ws('; ',
            CASE WHEN t.session_start IS DISTINCT FROM f.session_start
                THEN 'prediction time is not the session''s first event' END,
            CASE WHEN f.hour_of_day IS DISTINCT FROM CAST(hour(f.session_start) AS INTEGER)
                THEN 'hour_of_day is not the hour of session_start' END,
            CASE WHEN f.prior_sessions_28d > a.ended_sessions
                THEN 'prior_sessions_28d counts sessions not ended before the start' END,
            CASE WHEN f.prior_conversions_28d > a.ended_conversions
                THEN 'prior_conversions_28d counts conversions not ended before the start' END,
            CASE WHEN f.prior_page_views_28d > a.ended_page_views
                THEN 'prior_page_views_28d counts page views not ended before the start' END,
            CASE WHEN f.days_since_prior_session IS NOT NULL AND a.latest_end IS NULL
                THEN 'days_since_prior_session without an ended earlier session' END,
            CASE WHEN f.days_since_prior_session * 86400000
                    < epoch_ms(f.session_start) - epoch_ms(a.latest_end) - 1
                THEN 'days_since_prior_session is closer than any ended session' END
        ) AS problem
    FROM f
    LEFT JOIN main.sessions AS t ON t.event_date = f.event_date AND t.session_id = f.session_id
    LEFT JOIN allowed AS a ON a.session_id = f.session_id
)
SELECT *, count(*) OVER () AS offending FROM checked WHERE problem <> '' ORDER BY session_id LIMIT 5
"""


@check(
    SESSION_FEATURES,
    "no_label_leakage",
    blocking=True,
    description="Every feature is known at the session's start: session_start is the session's "
    "first event, hour_of_day is its hour, and the history features count no more than the "
    f"visitor's non-bot sessions that had ended before it started (within {HISTORY_DAYS} days), "
    "verified in SQL against warehouse/sessions.",
)
def no_label_leakage(run: CheckRun, day: str) -> dg.AssetCheckResult:
    rows = run.warehouse(_LEAKAGE_SQL, [day])
    return offender_result(
        rows, "leaking_rows", "{count} feature rows use information from after the session start"
    )


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


CHECKS = [*table_checks(FEATURES_SQL, FEATURES_GROUP), no_label_leakage, class_balance, no_constant_columns]
feature_checks = checks_step("features_checks", CHECKS)
