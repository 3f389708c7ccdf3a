/* ---
description: >-
  One row per session and day, for traffic accounting: when it started and ended that day, what it
  did (page, product, cart and checkout events), whether it converted that day, and where it came
  from (that day's first event). A session that crosses midnight gives one row per day, each built
  from that day's events only, so a day's rows add up to its lake events; the row of a later day
  is a continuation, not a new visit (its "entry" is the page the visitor was on at midnight).
  Whole sessions (one per visit, on the day it began) are what features/session_features builds
  from these rows: do not read a row as a visit.
inputs: {events: lake/events}
grain: [event_date, session_id]
partition_column: event_date
columns:
  event_date: Day of the session's events (UTC); a session crossing midnight has a row per day.
  session_id: Session identifier from the lake.
  visitor_id: Visitor of the entry event (user id, or the anonymous ip+agent id).
  user_id: >-
    Logged-in user id: the greatest non-NULL user_id among the session's events that day, so a
    login in the middle of the session attributes it to the user; NULL when anonymous throughout.
  session_start: Timestamp (UTC) of the session's first event that day.
  session_end: Timestamp (UTC) of the session's last event that day.
  duration_s: session_end - session_start in seconds (whole milliseconds); 0 for one event.
  events: Number of events (requests) of the session that day.
  page_views: Events whose event_type is not static or api.
  product_views: Events with event_type 'product'.
  cart_events: Events with event_type 'cart'.
  checkout_events: Events with event_type 'checkout'.
  converted: True when the session has a 'purchase' event answered with status < 400 that day.
  entry_path: >-
    Path of the entry event, the first event by (ts, source_file, source_line); the file and
    line break ties on ts so the choice is deterministic.
  entry_event_type: event_type of the entry event.
  referrer: Referrer of the entry event (NULL when the log had none).
  device: Device of the entry event (desktop, mobile, tablet, bot or unknown).
  country: ISO-2 country of the entry event, 'unknown' when not resolved.
  is_bot: True when the entry event's device is 'bot' (so it always agrees with device).
  errors: Events answered with status >= 400.
--- */

WITH ranked_events AS (
    SELECT
        *,
        -- entry event: earliest ts; source file and line break ties deterministically
        row_number() OVER (
            PARTITION BY event_date, session_id
            ORDER BY ts, source_file, source_line
        ) AS event_rank
    FROM events
),

entry_events AS (
    SELECT
        event_date,
        session_id,
        visitor_id,
        COALESCE(path, '(none)') AS entry_path,
        event_type AS entry_event_type,
        referrer,
        COALESCE(device, 'unknown') AS device,
        COALESCE(country, 'unknown') AS country
    FROM ranked_events
    WHERE event_rank = 1
),

session_totals AS (
    SELECT
        event_date,
        session_id,
        MAX(user_id) AS user_id,
        MIN(ts) AS session_start,
        MAX(ts) AS session_end,
        COUNT(*) AS events,
        COUNT(CASE WHEN event_type NOT IN ('static', 'api') THEN 1 END) AS page_views,
        COUNT(CASE WHEN event_type = 'product' THEN 1 END) AS product_views,
        COUNT(CASE WHEN event_type = 'cart' THEN 1 END) AS cart_events,
        COUNT(CASE WHEN event_type = 'checkout' THEN 1 END) AS checkout_events,
        -- a purchase only converts when the server accepted it
        COUNT(CASE WHEN event_type = 'purchase' AND status < 400 THEN 1 END) AS purchases,
        COUNT(CASE WHEN status >= 400 THEN 1 END) AS errors
    FROM events
    GROUP BY
        event_date,
        session_id
)

SELECT
    t.event_date,
    t.session_id,
    e.visitor_id,
    t.user_id,
    t.session_start,
    t.session_end,
    CAST(epoch_millis(t.session_end) - epoch_millis(t.session_start) AS DOUBLE) / 1000
        AS duration_s,
    t.events,
    t.page_views,
    t.product_views,
    t.cart_events,
    t.checkout_events,
    t.purchases > 0 AS converted,
    e.entry_path,
    e.entry_event_type,
    e.referrer,
    e.device,
    e.country,
    e.device = 'bot' AS is_bot,
    t.errors
FROM session_totals AS t
INNER JOIN entry_events AS e
    ON t.event_date = e.event_date
    AND t.session_id = e.session_id
