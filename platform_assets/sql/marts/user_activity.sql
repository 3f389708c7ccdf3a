/* ---
description: >-
  One row per visitor and day: how many sessions, events, page views and successful purchases,
  bytes served, first and last seen, and the device and country of the day's first event.
inputs: {events: lake/events}
grain: [event_date, visitor_id]
partition_column: event_date
columns:
  event_date: Day of the visitor's events (UTC).
  visitor_id: Visitor (the user id when logged in, else the anonymous ip+agent id).
  user_id: >-
    Logged-in user id: the greatest non-NULL user_id among the visitor's events that day; NULL for
    anonymous visitors.
  sessions: Number of distinct sessions with events from this visitor that day.
  events: Number of events (requests).
  page_views: Events whose event_type is not static or api.
  purchases: Events with event_type 'purchase' answered with status < 400 (failed ones excluded).
  bytes: Response bytes served to the visitor.
  first_seen: Timestamp (UTC) of the visitor's first event that day.
  last_seen: Timestamp (UTC) of the visitor's last event that day.
  device: >-
    Device of the visitor's first event that day, first by (ts, source_file, source_line) (the
    file and line break ties on ts deterministically).
  country: ISO-2 country of that first event, 'unknown' when not resolved.
  is_bot: True when the first event's device is 'bot' (so it always agrees with device).
--- */

WITH ranked_events AS (
    SELECT
        *,
        -- first event of the day: earliest ts; source file and line break ties
        row_number() OVER (
            PARTITION BY event_date, visitor_id
            ORDER BY ts, source_file, source_line
        ) AS event_rank
    FROM events
),

first_events AS (
    SELECT
        event_date,
        visitor_id,
        COALESCE(device, 'unknown') AS device,
        COALESCE(country, 'unknown') AS country
    FROM ranked_events
    WHERE event_rank = 1
),

visitor_totals AS (
    SELECT
        event_date,
        visitor_id,
        MAX(user_id) AS user_id,
        COUNT(DISTINCT session_id) AS sessions,
        COUNT(*) AS events,
        COUNT(CASE WHEN event_type NOT IN ('static', 'api') THEN 1 END) AS page_views,
        COUNT(CASE WHEN event_type = 'purchase' AND status < 400 THEN 1 END) AS purchases,
        CAST(SUM(bytes) AS BIGINT) AS bytes,
        MIN(ts) AS first_seen,
        MAX(ts) AS last_seen
    FROM events
    GROUP BY
        event_date,
        visitor_id
)

SELECT
    t.event_date,
    t.visitor_id,
    t.user_id,
    t.sessions,
    t.events,
    t.page_views,
    t.purchases,
    t.bytes,
    t.first_seen,
    t.last_seen,
    f.device,
    f.country,
    f.device = 'bot' AS is_bot
FROM visitor_totals AS t
INNER JOIN first_events AS f
    ON t.event_date = f.event_date
    AND t.visitor_id = f.visitor_id
