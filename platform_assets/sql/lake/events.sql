/* ---
description: >-
  Lake events: every parsed line that was not rejected, with a session id. Lines that do not carry
  one (access logs) are sessionised per visitor: a new session after 30 minutes of inactivity.
inputs: {checked_lines: lake/checked_lines}
grain: [source_file, source_line]
partition_column: event_date
# Parquet column types of every fragment (DuckDB names), checked by lake/events:schema_as_documented.
types:
  {ts: TIMESTAMP, event_date: DATE, ip: VARCHAR, user_id: VARCHAR, visitor_id: VARCHAR,
   session_id: VARCHAR, method: VARCHAR, path: VARCHAR, query_string: VARCHAR, protocol: VARCHAR,
   status: INTEGER, bytes: BIGINT, latency_ms: DOUBLE, referrer: VARCHAR, user_agent: VARCHAR,
   device: VARCHAR, country: VARCHAR, event_type: VARCHAR, log_format: VARCHAR,
   source_file: VARCHAR, source_line: BIGINT}
columns:
  ts: Event time, normalised to UTC (naive TIMESTAMP).
  event_date: UTC date of ts; the lake partition (date=YYYY-MM-DD).
  ip: Client address or host name as logged.
  user_id: Logged-in user (JSON user_id, access-log authuser), NULL when anonymous.
  visitor_id: user_id, or for anonymous traffic 'anon-' and a hash of address and user agent.
  session_id: Session from the log, or derived (visitor, 30 minutes of inactivity).
  method: HTTP method, upper case; INVALID when the request line could not be read.
  path: Request path without the query string; '(invalid request)' for unreadable request lines.
  query_string: Part of the request target after '?', NULL when none.
  protocol: HTTP protocol version as logged, NULL when absent.
  status: HTTP status code.
  bytes: Response bytes; 0 when the log says '-'.
  latency_ms: Request duration in milliseconds, NULL when the log does not record it.
  referrer: Referer header, NULL when absent or '-'.
  user_agent: User-Agent header, NULL when absent or '-'.
  device: desktop, mobile, tablet, bot or unknown (declared by the app, else from the user agent).
  country: ISO-3166 alpha-2 country when the log carries it, else NULL.
  event_type: landing, product, cart, checkout, purchase, search, static, api, page or invalid, from the path.
  log_format: jsonl, combined or common.
  source_file: Landed file, relative to the landing folder.
  source_line: 1-based line number in the (decompressed) landed file.
--- */
WITH undeclared AS (
    SELECT *
    FROM checked_lines
    WHERE reject_reason IS NULL AND declared_session_id IS NULL
),

-- Sessions are found on three narrow columns (the window sorts carry nothing else); each line's
-- session then joins back to its wide row. A line starts a session after 30 minutes of silence.
session_starts AS (
    SELECT
        source_file,
        source_line,
        visitor_id,
        ts,
        CASE
            WHEN epoch_millis(ts) - lag(epoch_millis(ts)) OVER (
                PARTITION BY visitor_id ORDER BY ts, source_line
            ) <= 1800000 THEN NULL
            ELSE epoch_millis(ts)
        END AS start_ms
    FROM undeclared
),

-- A derived session is named by its visitor and its first event time, so it is stable across runs.
line_sessions AS (
    SELECT
        source_file,
        source_line,
        's-' || substr(md5(visitor_id || '|' || CAST(max(start_ms) OVER (
            PARTITION BY visitor_id ORDER BY ts, source_line ROWS UNBOUNDED PRECEDING
        ) AS STRING)), 1, 16) AS session_id
    FROM session_starts
)

-- Same columns in both branches: lines that carried a session, then the sessionised ones.
SELECT
    ts, event_date, ip, user_id, visitor_id, declared_session_id AS session_id, method, path,
    query_string, protocol, status, bytes, latency_ms, referrer, user_agent, device, country,
    event_type, log_format, source_file, source_line
FROM checked_lines
WHERE reject_reason IS NULL AND declared_session_id IS NOT NULL

UNION ALL

SELECT
    u.ts, u.event_date, u.ip, u.user_id, u.visitor_id, s.session_id, u.method, u.path,
    u.query_string, u.protocol, u.status, u.bytes, u.latency_ms, u.referrer, u.user_agent, u.device,
    u.country, u.event_type, u.log_format, u.source_file, u.source_line
FROM undeclared AS u
INNER JOIN line_sessions AS s ON u.source_file = s.source_file AND u.source_line = s.source_line
