"""The few functions whose spelling differs between DuckDB and Spark SQL.

Shared SQL in ``platform_assets/sql`` calls these names; each engine defines them once when it
opens a session (DuckDB as macros here; Spark as SQL functions in the Spark engine). Everything
else in the shared SQL is plain SQL both engines accept.
"""

from __future__ import annotations

from platform_assets.lib.log_formats import (
    CLF_FIELDS,
    CLF_PATTERN,
    CLF_PLAIN_PATTERN,
    CLF_TIME_FORMAT_JAVA,
    CLF_TIME_FORMAT_STRPTIME,
    JSON_EVENT_FIELDS,
    REQUEST_FIELDS,
    REQUEST_PATTERN,
)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# parse_clf of a plain-shape line (CLF_PLAIN_PATTERN): split once on quotes (q) and the part before
# the request once on spaces (w), instead of filling 11 regex groups (2.1 against 3.2 CPU s per 1M
# lines; the same struct on 1M generated and 10,000 real lines). q: [host ident user [time] ,
# request, ' status bytes ', referrer, ' ', user agent, trailing...]; each lambda over a
# one-element list binds a value once. The trailing field keeps its quotes, as the regex's group.
_SPLIT_PLAIN_CLF = """list_transform([string_split(s, '"')], lambda q:
  list_transform([string_split(q[1], ' ')], lambda w:
  list_transform([split_part(q[3], ' ', 3)], lambda b: struct_pack(
    host := w[1], ident := w[2], authuser := w[3],
    time := substr(q[1], length(w[1]) + length(w[2]) + length(w[3]) + 5,
                   length(q[1]) - length(w[1]) - length(w[2]) - length(w[3]) - 6),
    request := q[2], status := substr(q[3], 2, 3), bytes := b,
    combined := CASE WHEN len(q) >= 7 THEN ' ' ELSE '' END,
    referrer := CASE WHEN len(q) >= 7 THEN q[4] ELSE '' END,
    user_agent := CASE WHEN len(q) >= 7 THEN q[6] ELSE '' END,
    "trailing" := CASE len(q)
      WHEN 3 THEN substr(q[3], 6 + length(b))
      WHEN 5 THEN substr(q[3], 6 + length(b)) || '"' || q[4] || '"'
      WHEN 7 THEN q[7]
      ELSE q[7] || '"' || q[8] || '"' END))[1])[1])[1]"""


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
        # plain-shape lines split, every other line by the full pattern (same struct either way)
        "CREATE OR REPLACE TEMP MACRO parse_clf(s) AS "
        f"CASE WHEN regexp_full_match(s, {_sql_string(CLF_PLAIN_PATTERN)}) THEN {_SPLIT_PLAIN_CLF} "
        f"ELSE regexp_extract(s, {_sql_string(CLF_PATTERN)}, {clf_names}) END",
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


# RE2 (DuckDB) and java.util.regex (Spark) differ in a few places the shared patterns touch:
# RE2's \\s is [\\t\\n\\f\\r ] (Java's adds \\x0B), and RE2's . and $ know only \\n as a line end
# (Java's (?d), UNIX_LINES, does the same). Java also recurses once per iteration of a repeated
# group, so (?:[^"\\\\]|\\\\.)* over a long quoted field, or the loop over a few thousand trailing
# fields, overflows the stack (StackOverflowError fails the Spark job). Both loops are rewritten as
# possessive loops, which Java runs without recursion; they match the same text as the originals
# because a quoted field or a trailing field can end at one place only (nothing to backtrack into).
_CLF_ESCAPE = r'\\(["\\])'  # the pattern of the DuckDB macro unescape_clf
_RE2_SPACE = "\\t\\n\\f\\r "
_QUOTED_BODY = '(?:[^"\\\\]|\\\\.)*'
_QUOTED_BODY_JAVA = '[^"\\\\]*+(?:\\\\.[^"\\\\]*+)*+'
_TRAILING_LOOP, _TRAILING_LOOP_JAVA = ")*) *$", ")*+) *$"


def java_regex(pattern: str) -> str:
    """A java.util.regex pattern that matches what RE2 matches for ``pattern`` (the shapes used here)."""
    pattern = pattern.replace(_QUOTED_BODY, _QUOTED_BODY_JAVA).replace(_TRAILING_LOOP, _TRAILING_LOOP_JAVA)
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if pair == "\\s":
                out.append(_RE2_SPACE if in_class else f"[{_RE2_SPACE}]")
            elif pair == "\\S":
                if in_class:
                    raise ValueError(f"\\S inside a character class is not translated: {pattern!r}")
                out.append(f"[^{_RE2_SPACE}]")
            else:
                out.append(pair)
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a leading ] is a literal
                out.append("]")
                i += 1
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        else:
            out.append(c)
        i += 1
    return "(?d)" + "".join(out)


def _spark_string(value: str) -> str:
    """A Spark SQL string expression for ``value`` that reads the same whether or not
    ``spark.sql.parser.escapedStringLiterals`` is set (a backslash in a plain literal is an escape
    character only when it is not): plain when ``value`` has no backslash or quote, else unhexed."""
    if "\\" not in value and "'" not in value:
        return "'" + value + "'"
    return f"decode(unhex('{value.encode('utf-8').hex().upper()}'), 'UTF-8')"


def spark_prelude() -> list[str]:
    """``CREATE TEMPORARY FUNCTION`` statements (Spark SQL functions, Spark 4) that give Spark the
    shared function names, each matching its DuckDB macro above.

    Patterns are passed through :func:`java_regex` and spelt with :func:`_spark_string`, so the
    functions mean the same under either setting of ``spark.sql.parser.escapedStringLiterals``.
    """
    json_schema = ", ".join(f"{name} STRING" for name in JSON_EVENT_FIELDS)
    clf = _spark_string(java_regex(CLF_PATTERN))
    request = _spark_string(java_regex(REQUEST_PATTERN))
    clf_struct = ", ".join(f"{name}: STRING" for name in CLF_FIELDS)
    request_struct = ", ".join(f"{name}: STRING" for name in REQUEST_FIELDS)
    clf_fields = ", ".join(f"'{n}', regexp_extract(s, {clf}, {i})" for i, n in enumerate(CLF_FIELDS, 1))
    request_fields = ", ".join(
        f"'{n}', regexp_extract(s, {request}, {i})" for i, n in enumerate(REQUEST_FIELDS, 1)
    )
    # the runtime patterns of regex_match / regex_group get the same RE2 reading of ^ $ . and \\s
    # (a \\s inside a [...] class of a shared pattern would need java_regex's class handling)
    runtime_pattern = (
        f"concat('(?d)', replace(p, {_spark_string(chr(92) + 's')}, {_spark_string(f'[{_RE2_SPACE}]')}))"
    )
    return [
        "CREATE OR REPLACE TEMPORARY FUNCTION epoch_millis(ts TIMESTAMP_NTZ) RETURNS BIGINT "
        "RETURN unix_millis(CAST(ts AS TIMESTAMP))",
        "CREATE OR REPLACE TEMPORARY FUNCTION iso_dow(ts TIMESTAMP_NTZ) RETURNS INT "
        "RETURN ((dayofweek(ts) + 5) % 7) + 1",
        "CREATE OR REPLACE TEMPORARY FUNCTION add_days(d DATE, n INT) RETURNS DATE RETURN date_add(d, n)",
        "CREATE OR REPLACE TEMPORARY FUNCTION days_between(a DATE, b DATE) RETURNS INT RETURN datediff(b, a)",
        # NULL unless the text is one JSON object and nothing after it (DuckDB's json_valid): the
        # Jackson-based functions stop after the first value, so the text is also checked inside
        # an array and as an object's value (trailing text breaks one or the other). from_json
        # alone yields a struct of NULLs for malformed text. Every field as text; numbers as
        # Jackson writes them back (1e3 -> 1000.0, 12.50 -> 12.5, as DuckDB does).
        "CREATE OR REPLACE TEMPORARY FUNCTION parse_event_json(s STRING) "
        f"RETURNS STRUCT<{', '.join(f'{n}: STRING' for n in JSON_EVENT_FIELDS)}> "
        "RETURN CASE WHEN json_object_keys(s) IS NOT NULL "
        "AND json_array_length(concat('[', s, ']')) = 1 "
        "AND json_object_keys(concat('{\"v\": ', s, '}')) IS NOT NULL "
        f"THEN from_json(s, '{json_schema}') END",
        # every group of the access-log pattern, '' when it does not match (as DuckDB's regexp_extract)
        f"CREATE OR REPLACE TEMPORARY FUNCTION parse_clf(s STRING) RETURNS STRUCT<{clf_struct}> "
        f"RETURN named_struct({clf_fields})",
        f"CREATE OR REPLACE TEMPORARY FUNCTION parse_request(s STRING) RETURNS STRUCT<{request_struct}> "
        f"RETURN named_struct({request_fields})",
        # timestamp strings -> naive UTC TIMESTAMP_NTZ (the session time zone is UTC), NULL when bad
        "CREATE OR REPLACE TEMPORARY FUNCTION iso_to_utc(s STRING) RETURNS TIMESTAMP_NTZ "
        "RETURN CAST(try_cast(s AS TIMESTAMP) AS TIMESTAMP_NTZ)",
        "CREATE OR REPLACE TEMPORARY FUNCTION clf_time_to_utc(s STRING) RETURNS TIMESTAMP_NTZ "
        f"RETURN CAST(try_to_timestamp(s, '{CLF_TIME_FORMAT_JAVA}') AS TIMESTAMP_NTZ)",
        # undo Apache's \\" and \\\\ escapes inside quoted fields
        "CREATE OR REPLACE TEMPORARY FUNCTION unescape_clf(s STRING) RETURNS STRING "
        f"RETURN regexp_replace(s, {_spark_string(java_regex(_CLF_ESCAPE))}, '$1')",
        "CREATE OR REPLACE TEMPORARY FUNCTION regex_match(s STRING, p STRING) RETURNS BOOLEAN "
        f"RETURN regexp(s, {runtime_pattern})",
        "CREATE OR REPLACE TEMPORARY FUNCTION regex_group(s STRING, p STRING, i INT) RETURNS STRING "
        f"RETURN regexp_extract(s, {runtime_pattern}, i)",
    ]
