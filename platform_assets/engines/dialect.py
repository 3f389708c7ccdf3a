"""The few functions whose spelling differs between DuckDB and Spark SQL.

Shared SQL in ``platform_assets/sql`` calls these names; each engine defines them once when it
opens a session (DuckDB as macros here; Spark as SQL functions in the Spark engine). Everything
else in the shared SQL is plain SQL both engines accept.
"""

from __future__ import annotations

from platform_assets.lib.log_formats import (
    CLF_FIELDS,
    CLF_PATTERN,
    CLF_TIME_FORMAT_STRPTIME,
    JSON_EVENT_FIELDS,
    REQUEST_FIELDS,
    REQUEST_PATTERN,
)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_prelude() -> list[str]:
    """``CREATE MACRO`` statements that give DuckDB the shared function names."""
    json_struct = "{" + ", ".join(f'"{name}": "VARCHAR"' for name in JSON_EVENT_FIELDS) + "}"
    clf_names = "[" + ", ".join(_sql_string(n) for n in CLF_FIELDS) + "]"
    request_names = "[" + ", ".join(_sql_string(n) for n in REQUEST_FIELDS) + "]"
    return [
        # whole milliseconds since the epoch (Spark: unix_millis)
        "CREATE OR REPLACE TEMP MACRO epoch_millis(ts) AS epoch_ms(ts)",
        # ISO day of week, Monday = 1 .. Sunday = 7 (Spark: ((dayofweek(ts) + 5) % 7) + 1)
        "CREATE OR REPLACE TEMP MACRO iso_dow(ts) AS isodow(ts)",
        # date arithmetic in whole days (Spark: date_add / datediff)
        "CREATE OR REPLACE TEMP MACRO add_days(d, n) AS CAST(d AS DATE) + CAST(n AS INTEGER)",
        "CREATE OR REPLACE TEMP MACRO days_between(a, b) AS "
        "datediff('day', CAST(a AS DATE), CAST(b AS DATE))",
        # NULL when the text is not valid JSON (Spark: from_json, PERMISSIVE). A json_valid guard,
        # not try(): try() evaluates row by row and made parsing 3x slower.
        "CREATE OR REPLACE TEMP MACRO parse_event_json(s) AS "
        f"(CASE WHEN json_valid(s) THEN from_json(s, {_sql_string(json_struct)}) END)",
        "CREATE OR REPLACE TEMP MACRO parse_clf(s) AS "
        f"regexp_extract(s, {_sql_string(CLF_PATTERN)}, {clf_names})",
        "CREATE OR REPLACE TEMP MACRO parse_request(s) AS "
        f"regexp_extract(s, {_sql_string(REQUEST_PATTERN)}, {request_names})",
        # timestamp strings -> naive UTC TIMESTAMP, NULL when unparseable
        "CREATE OR REPLACE TEMP MACRO iso_to_utc(s) AS (TRY_CAST(s AS TIMESTAMPTZ) AT TIME ZONE 'UTC')",
        "CREATE OR REPLACE TEMP MACRO clf_time_to_utc(s) AS "
        f"(try_strptime(s, {_sql_string(CLF_TIME_FORMAT_STRPTIME)}) AT TIME ZONE 'UTC')",
        # undo Apache's \\" and \\\\ escapes inside quoted fields
        "CREATE OR REPLACE TEMP MACRO unescape_clf(s) AS regexp_replace(s, '\\\\([\"\\\\])', '\\1', 'g')",
        "CREATE OR REPLACE TEMP MACRO regex_match(s, p) AS regexp_matches(s, p)",
        "CREATE OR REPLACE TEMP MACRO regex_group(s, p, i) AS regexp_extract(s, p, i)",
    ]


def spark_prelude() -> list[str]:
    """``CREATE TEMPORARY FUNCTION`` statements (Spark SQL functions, Spark 4) that give Spark the
    shared function names, each matching its DuckDB macro above."""
    return [
        "CREATE OR REPLACE TEMPORARY FUNCTION epoch_millis(ts TIMESTAMP_NTZ) RETURNS BIGINT "
        "RETURN unix_millis(CAST(ts AS TIMESTAMP))",
        "CREATE OR REPLACE TEMPORARY FUNCTION iso_dow(ts TIMESTAMP_NTZ) RETURNS INT "
        "RETURN ((dayofweek(ts) + 5) % 7) + 1",
        "CREATE OR REPLACE TEMPORARY FUNCTION add_days(d DATE, n INT) RETURNS DATE RETURN date_add(d, n)",
        "CREATE OR REPLACE TEMPORARY FUNCTION days_between(a DATE, b DATE) RETURNS INT RETURN datediff(b, a)",
    ]
