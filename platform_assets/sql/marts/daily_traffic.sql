/* ---
description: >-
  Requests per day, path, country and device: traffic, distinct visitors, client and server
  errors, latency percentiles and bytes served. Every logged request counts, bots included.
inputs: {events: lake/events}
grain: [event_date, path, country, device]
partition_column: event_date
columns:
  event_date: Day of the requests (UTC).
  path: Request path without the query string ('(none)' when the log line had no path).
  country: ISO-2 country of the client, 'unknown' when it could not be resolved.
  device: desktop, mobile, tablet, bot or unknown (from the user agent).
  requests: Number of requests.
  distinct_visitors: Number of distinct visitors (user id, or the anonymous ip+agent id).
  errors: Requests answered with status >= 400 (client and server errors).
  error_rate: errors / requests, between 0 and 1.
  server_errors: Requests answered with status >= 500.
  p50_latency_ms: >-
    Median latency in ms (continuous percentile, linear interpolation) over the requests that
    logged one; NULL when none did (combined logs without request time).
  p95_latency_ms: 95th percentile latency in ms, same rules as p50_latency_ms.
  bytes: Response bytes served (0 counted for a '-' in the log).
--- */

WITH keyed_events AS (
    -- grain keys are never NULL: missing values get an explicit placeholder
    SELECT
        event_date,
        COALESCE(path, '(none)') AS path,
        COALESCE(country, 'unknown') AS country,
        COALESCE(device, 'unknown') AS device,
        visitor_id,
        status,
        bytes,
        latency_ms
    FROM events
),

traffic AS (
    SELECT
        event_date,
        path,
        country,
        device,
        COUNT(*) AS requests,
        COUNT(DISTINCT visitor_id) AS distinct_visitors,
        COUNT(CASE WHEN status >= 400 THEN 1 END) AS errors,
        COUNT(CASE WHEN status >= 500 THEN 1 END) AS server_errors,
        -- percentile_cont ignores NULL latencies and gives NULL when the group has none
        percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_latency_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,
        CAST(SUM(bytes) AS BIGINT) AS bytes
    FROM keyed_events
    GROUP BY
        event_date,
        path,
        country,
        device
)

SELECT
    event_date,
    path,
    country,
    device,
    requests,
    distinct_visitors,
    errors,
    CAST(errors AS DOUBLE) / requests AS error_rate,
    server_errors,
    p50_latency_ms,
    p95_latency_ms,
    bytes
FROM traffic
