/* ---
description: >-
  One row per non-bot session of the day with what was known when it started (entry event and the
  visitor's earlier, already ended sessions) and whether it converted (the label).
inputs: {target_sessions: warehouse/sessions, history_sessions: warehouse/sessions}
lookback_days: {history_sessions: 28}
grain: [event_date, session_id]
partition_column: event_date
columns:
  event_date: Day of the session (partition key).
  session_id: Session identifier.
  visitor_id: Visitor the session belongs to.
  session_start: Prediction time; first event of the session (UTC).
  device: Device class of the session (desktop, mobile, tablet, unknown).
  country: Country of the session; 'unknown' when missing.
  entry_event_type: Event type of the entry event (landing, product, search, ...).
  referrer_class: Referrer of the entry event as direct, campaign, search, social, internal or other.
  hour_of_day: Hour of session_start, 0-23 (UTC).
  day_of_week: ISO day of week of session_start, Monday = 1 .. Sunday = 7.
  is_logged_in: 1 when the visitor was logged in at the entry event, else 0.
  prior_sessions_28d: Earlier sessions of the visitor that ended before this one started (28 days).
  prior_conversions_28d: How many of those earlier sessions converted.
  prior_page_views_28d: Page views in those earlier sessions.
  days_since_prior_session: Days (fractional) from the end of the latest earlier session to this start; NULL when none.
  label: 1 when the session converted, else 0 (the target; never a feature).
--- */

-- NO-LEAKAGE RULE. Prediction time is the target session's start, t.session_start. A feature may use
--   (a) the target session's entry attributes only: session_start, entry_event_type, referrer,
--       device, country, visitor_id (the entry event's; sessions.user_id is not used because
--       a login later in the session, e.g. at checkout, would leak the outcome); never its events,
--       page views, end, duration or conversion;
--   (b) earlier sessions h of the same visitor that had ENDED before the target started
--       (h.session_end < t.session_start) and belong to the 28 calendar days before the target's
--       day or to that day (h.event_date >= add_days(t.event_date, -28)).
-- The window is enforced here, whatever the history_sessions view holds. `converted` of the target
-- session reaches only `label`. Bot sessions are neither targets nor history.
WITH targets AS (
    SELECT
        event_date,
        session_id,
        visitor_id,
        user_id,
        session_start,
        entry_event_type,
        device,
        NULLIF(TRIM(country), '') AS country,
        LOWER(TRIM(referrer)) AS referrer,
        converted
    FROM target_sessions
    WHERE COALESCE(is_bot, FALSE) = FALSE
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
        SUM(CASE WHEN h.converted THEN 1 ELSE 0 END) AS prior_conversions,
        SUM(COALESCE(h.page_views, 0)) AS prior_page_views,
        MAX(h.session_end) AS latest_prior_end
    FROM entries AS t
    INNER JOIN history_sessions AS h
        ON h.visitor_id = t.visitor_id
        AND h.session_end < t.session_start
        AND h.event_date >= add_days(t.event_date, -28)
        AND h.event_date <= t.event_date
        AND COALESCE(h.is_bot, FALSE) = FALSE
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
    CASE WHEN t.converted THEN 1 ELSE 0 END AS label
FROM entries AS t
LEFT JOIN prior AS p
    ON p.event_date = t.event_date AND p.session_id = t.session_id
