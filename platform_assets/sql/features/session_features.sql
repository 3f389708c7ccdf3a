/* ---
description: >-
  One row per non-bot session, on the day it started, with what was known when it started (its
  first event and the visitor's earlier, already ended sessions) and whether it converted at any
  point, after midnight included (the label).
inputs:
  {target_sessions: warehouse/sessions, history_sessions: warehouse/sessions, later_events: lake/events}
# history_sessions: the 28-day window plus the day before it, to tell a session that began before
# the window (its row on the window's first day is an after-midnight part) from one that began in it.
lookback_days: {history_sessions: 29}
# later_events: the lake events of the day and the next, so a session that began before midnight
# is seen whole (its end and any purchase after midnight); a session lasting past the next day's
# end is cut there. The lake-days sensor rebuilds a day when the next day's events change.
lookahead_days: {later_events: 1}
# The prediction service runs this query too (serving/feature_sql.py): over one request and the
# online store's whole sessions, whose rows are this query's whole_sessions CTE. Keep each CTE as
# `name AS (` ... `)` at the start of a line; a test fails if the file no longer cuts that way.
grain: [event_date, session_id]
partition_column: event_date
columns:
  event_date: Day the session started (partition key); a session crossing midnight has one row, here.
  session_id: Session identifier.
  visitor_id: Visitor of the session's first event.
  session_start: Prediction time; first event of the session (UTC).
  device: Device class of the session (desktop, mobile, tablet, unknown).
  country: Country of the session; 'unknown' when missing.
  entry_event_type: Event type of the session's first event (landing, product, search, ...).
  referrer_class: Referrer of the first event as direct, campaign, search, social, internal or other.
  hour_of_day: Hour of session_start, 0-23 (UTC).
  day_of_week: ISO day of week of session_start, Monday = 1 .. Sunday = 7.
  is_logged_in: 1 when the visitor was logged in at the first event, else 0.
  prior_sessions_28d: >-
    Earlier sessions of the visitor, begun in the 28 days before this one's day or on it, that had
    ended (their last event, after midnight included) before this one started.
  prior_conversions_28d: How many of those earlier sessions converted.
  prior_page_views_28d: Page views in those earlier sessions.
  days_since_prior_session: Days (fractional) from the end of the latest earlier session to this start; NULL when none.
  label: 1 when the session converted, whichever day the purchase fell on, else 0 (the target; never a feature).
--- */

-- NO-LEAKAGE RULE. Prediction time is the target session's start, t.session_start. A feature may use
--   (a) the target session's entry attributes only: session_start, entry_event_type, referrer,
--       device, country, visitor_id (the first event's; sessions.user_id is not used because
--       a login later in the session, e.g. at checkout, would leak the outcome); never its events,
--       page views, end, duration or conversion;
--   (b) earlier WHOLE sessions h of the same visitor that had ENDED before the target started
--       (h.session_end < t.session_start, h.session_end being the last event of the whole session,
--       after midnight included) and that began in the 28 calendar days before the target's day
--       or on it (h.first_day >= add_days(t.event_date, -28)).
-- The sessions mart has a row per session and day; everything below folds those rows into whole
-- sessions by session_id, so nothing here depends on that split: a session's first day is its
-- target day (one feature row), its first row gives its entry, its end and conversion come from all
-- its rows and its events of the next day. The window is enforced here, whatever the views hold.
-- `converted` of the target session reaches only `label`. Bot sessions are neither targets nor history.
WITH session_days AS (
    -- each session of the history view as a whole, from its rows of every day
    SELECT
        s.session_id,
        MIN(s.event_date) AS first_day,
        MAX(s.session_end) AS session_end,
        MAX(CASE WHEN s.converted THEN 1 ELSE 0 END) AS converted,
        SUM(COALESCE(s.page_views, 0)) AS page_views
    FROM history_sessions AS s
    GROUP BY s.session_id
),

later AS (
    -- what the lake events up to the next day's end add: a later last event, a purchase after midnight
    SELECT
        e.session_id,
        MAX(e.ts) AS last_event,
        MAX(CASE WHEN e.event_type = 'purchase' AND e.status < 400 THEN 1 ELSE 0 END) AS purchased
    FROM later_events AS e
    GROUP BY e.session_id
),

whole_sessions AS (
    -- visitor and bot flag from the session's first row (its entry event)
    SELECT
        d.session_id,
        d.first_day,
        f.visitor_id,
        COALESCE(f.is_bot, FALSE) AS is_bot,
        CASE WHEN l.last_event > d.session_end THEN l.last_event ELSE d.session_end END AS session_end,
        CASE WHEN d.converted = 1 OR l.purchased = 1 THEN 1 ELSE 0 END AS converted,
        d.page_views
    FROM session_days AS d
    INNER JOIN history_sessions AS f
        ON f.session_id = d.session_id AND f.event_date = d.first_day
    LEFT JOIN later AS l
        ON l.session_id = d.session_id
),

targets AS (
    -- the day's sessions that began that day: their row of the day is their first
    SELECT
        t.event_date,
        t.session_id,
        t.visitor_id,
        t.session_start,
        t.entry_event_type,
        t.device,
        NULLIF(TRIM(t.country), '') AS country,
        LOWER(TRIM(t.referrer)) AS referrer,
        w.converted
    FROM target_sessions AS t
    INNER JOIN whole_sessions AS w
        ON w.session_id = t.session_id AND w.first_day = t.event_date
    WHERE COALESCE(t.is_bot, FALSE) = FALSE
),

entries AS (
    SELECT
        targets.*,
        -- host of an absolute referrer URL, without path, query, fragment or port
        split_part(split_part(split_part(split_part(
            CASE WHEN referrer LIKE '%://%' THEN split_part(referrer, '://', 2) ELSE '' END,
            '/', 1), '?', 1), '#', 1), ':', 1) AS referrer_host
    FROM targets
),

prior AS (
    SELECT
        t.event_date,
        t.session_id,
        COUNT(*) AS prior_sessions,
        SUM(h.converted) AS prior_conversions,
        SUM(h.page_views) AS prior_page_views,
        MAX(h.session_end) AS latest_prior_end
    FROM entries AS t
    INNER JOIN whole_sessions AS h
        ON h.visitor_id = t.visitor_id
        AND h.session_end < t.session_start
        AND h.first_day >= add_days(t.event_date, -28)
        AND h.first_day <= t.event_date
        AND h.is_bot = FALSE
    GROUP BY t.event_date, t.session_id
)

SELECT
    t.event_date,
    t.session_id,
    t.visitor_id,
    t.session_start,
    COALESCE(t.device, 'unknown') AS device,
    COALESCE(t.country, 'unknown') AS country,
    COALESCE(t.entry_event_type, 'unknown') AS entry_event_type,
    CASE
        WHEN t.referrer IS NULL OR t.referrer IN ('', '-') THEN 'direct'
        WHEN t.referrer LIKE '%utm!_%' ESCAPE '!' THEN 'campaign'
        WHEN CONCAT('.', t.referrer_host) LIKE '%.google.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.bing.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.duckduckgo.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.yahoo.%' THEN 'search'
        WHEN CONCAT('.', t.referrer_host) LIKE '%.facebook.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.twitter.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.t.co'
            OR CONCAT('.', t.referrer_host) LIKE '%.instagram.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.linkedin.%'
            OR CONCAT('.', t.referrer_host) LIKE '%.reddit.%' THEN 'social'
        WHEN t.referrer LIKE '/%' THEN 'internal'
        ELSE 'other'
    END AS referrer_class,
    CAST(EXTRACT(HOUR FROM t.session_start) AS INTEGER) AS hour_of_day,
    CAST(iso_dow(t.session_start) AS INTEGER) AS day_of_week,
    CASE WHEN t.visitor_id LIKE 'anon-%' THEN 0 ELSE 1 END AS is_logged_in,
    CAST(COALESCE(p.prior_sessions, 0) AS BIGINT) AS prior_sessions_28d,
    CAST(COALESCE(p.prior_conversions, 0) AS BIGINT) AS prior_conversions_28d,
    CAST(COALESCE(p.prior_page_views, 0) AS BIGINT) AS prior_page_views_28d,
    CAST(epoch_millis(t.session_start) - epoch_millis(p.latest_prior_end) AS DOUBLE)
        / CAST(86400000 AS DOUBLE) AS days_since_prior_session,
    CAST(t.converted AS INTEGER) AS label
FROM entries AS t
LEFT JOIN prior AS p
    ON p.event_date = t.event_date AND p.session_id = t.session_id
