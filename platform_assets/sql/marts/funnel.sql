/* ---
description: >-
  Conversion funnel per day: how many human sessions reach visit, product, cart, checkout and
  purchase. Always five rows per day, zeros included. A session reaches a step when it reached
  the previous one and has at least one event of the step's type that day; the order of the events
  inside the session is ignored (a product view after the cart still counts). Bot sessions
  (entry event from a bot) are excluded. A session crossing midnight counts on each day with the
  events of that day only.
inputs: {events: lake/events}
grain: [event_date, step]
partition_column: event_date
columns:
  event_date: Day of the sessions' events (UTC).
  step_order: Position of the step, 1 (visit) to 5 (purchase).
  step: visit, product, cart, checkout or purchase.
  sessions: >-
    Non-bot sessions that reached the step: visit = any page view (event_type not static or api),
    product / cart / checkout = an event of that type, purchase = a 'purchase' event with
    status < 400; each step also requires the previous one, so the counts never increase.
  rate_from_previous: >-
    sessions / sessions of the previous step (1.0 for visit); NULL when the previous step has 0
    sessions, since a rate over no sessions is undefined.
  rate_from_start: sessions / sessions of the visit step; NULL when no session visited that day.
--- */

WITH ranked_events AS (
    SELECT
        event_date,
        session_id,
        device,
        event_type,
        status,
        -- entry event decides whether the session is a bot (same rule as the sessions mart)
        row_number() OVER (
            PARTITION BY event_date, session_id
            ORDER BY ts, source_file, source_line
        ) AS event_rank
    FROM events
),

session_steps AS (
    -- 1 when the session has at least one event of the step's type, else 0
    SELECT
        event_date,
        session_id,
        MIN(CASE WHEN event_rank = 1 AND device = 'bot' THEN 0 ELSE 1 END) AS is_human,
        MAX(CASE WHEN event_type NOT IN ('static', 'api') THEN 1 ELSE 0 END) AS has_visit,
        MAX(CASE WHEN event_type = 'product' THEN 1 ELSE 0 END) AS has_product,
        MAX(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS has_cart,
        MAX(CASE WHEN event_type = 'checkout' THEN 1 ELSE 0 END) AS has_checkout,
        MAX(CASE WHEN event_type = 'purchase' AND status < 400 THEN 1 ELSE 0 END) AS has_purchase
    FROM ranked_events
    GROUP BY
        event_date,
        session_id
),

session_reach AS (
    -- a step is reached only when every earlier step is (the product of the flags): the order
    -- of the events inside the session is ignored, and the funnel cannot increase. Bot sessions
    -- stay in (every flag 0) so that a day with only bots still gets its five rows.
    SELECT
        event_date,
        is_human * has_visit AS reached_visit,
        is_human * has_visit * has_product AS reached_product,
        is_human * has_visit * has_product * has_cart AS reached_cart,
        is_human * has_visit * has_product * has_cart * has_checkout AS reached_checkout,
        is_human * has_visit * has_product * has_cart * has_checkout * has_purchase
            AS reached_purchase
    FROM session_steps
),

day_counts AS (
    -- one row per day present in events
    SELECT
        event_date,
        COUNT(CASE WHEN reached_visit = 1 THEN 1 END) AS visit_sessions,
        COUNT(CASE WHEN reached_product = 1 THEN 1 END) AS product_sessions,
        COUNT(CASE WHEN reached_cart = 1 THEN 1 END) AS cart_sessions,
        COUNT(CASE WHEN reached_checkout = 1 THEN 1 END) AS checkout_sessions,
        COUNT(CASE WHEN reached_purchase = 1 THEN 1 END) AS purchase_sessions
    FROM session_reach
    GROUP BY
        event_date
),

steps AS (
    SELECT 1 AS step_order, 'visit' AS step
    UNION ALL
    SELECT 2 AS step_order, 'product' AS step
    UNION ALL
    SELECT 3 AS step_order, 'cart' AS step
    UNION ALL
    SELECT 4 AS step_order, 'checkout' AS step
    UNION ALL
    SELECT 5 AS step_order, 'purchase' AS step
),

funnel_rows AS (
    -- five rows per day, zeros included
    SELECT
        c.event_date,
        s.step_order,
        s.step,
        CASE s.step_order
            WHEN 1 THEN c.visit_sessions
            WHEN 2 THEN c.product_sessions
            WHEN 3 THEN c.cart_sessions
            WHEN 4 THEN c.checkout_sessions
            ELSE c.purchase_sessions
        END AS sessions,
        c.visit_sessions AS start_sessions
    FROM day_counts AS c
    CROSS JOIN steps AS s
),

with_previous AS (
    SELECT
        event_date,
        step_order,
        step,
        sessions,
        start_sessions,
        -- the visit step is its own base (rate 1.0)
        COALESCE(
            LAG(sessions) OVER (PARTITION BY event_date ORDER BY step_order),
            sessions
        ) AS previous_sessions
    FROM funnel_rows
)

SELECT
    event_date,
    step_order,
    step,
    sessions,
    -- NULL, not 0, when the denominator is 0: a rate over no sessions is undefined
    CASE
        WHEN previous_sessions > 0 THEN CAST(sessions AS DOUBLE) / previous_sessions
    END AS rate_from_previous,
    CASE
        WHEN start_sessions > 0 THEN CAST(sessions AS DOUBLE) / start_sessions
    END AS rate_from_start
FROM with_previous
