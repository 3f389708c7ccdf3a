/* ---
description: >-
  Lake events: every parsed line that was not rejected, with a session id. Lines that do not carry
  one (access logs) are sessionised per visitor: a new session after 30 minutes of inactivity.
inputs: {parsed_lines: lake/parse_lines}
grain: [source_file, source_line]
partition_column: event_date
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
    SELECT
        *,
        CASE
            WHEN epoch_millis(ts) - lag(epoch_millis(ts)) OVER (
                PARTITION BY visitor_id ORDER BY ts, source_line
            ) <= 1800000 THEN 0
            ELSE 1
        END AS starts_session
    FROM parsed_lines
    WHERE reject_reason IS NULL AND declared_session_id IS NULL
),

numbered AS (
    SELECT
        *,
        sum(starts_session) OVER (
            PARTITION BY visitor_id ORDER BY ts, source_line ROWS UNBOUNDED PRECEDING
        ) AS session_number
    FROM undeclared
),

-- A derived session is named by its visitor and its first event time, so it is stable across runs.
sessionised AS (
    SELECT
        *,
        's-' || substr(md5(visitor_id || '|' || CAST(min(epoch_millis(ts)) OVER (
            PARTITION BY visitor_id, session_number
        ) AS STRING)), 1, 16) AS session_id
    FROM numbered
)

-- Same columns in both branches: lines that carried a session, then the sessionised ones.
SELECT
    ts, event_date, ip, user_id, visitor_id, declared_session_id AS session_id, method, path,
    query_string, protocol, status, bytes, latency_ms, referrer, user_agent, device, country,
    event_type, log_format, source_file, source_line
FROM parsed_lines
WHERE reject_reason IS NULL AND declared_session_id IS NOT NULL

UNION ALL

SELECT
    ts, event_date, ip, user_id, visitor_id, session_id, method, path,
    query_string, protocol, status, bytes, latency_ms, referrer, user_agent, device, country,
    event_type, log_format, source_file, source_line
FROM sessionised
