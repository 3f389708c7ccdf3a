/* ---
description: >-
  Parse raw log lines (JSON lines, Apache/Nginx combined or common format, mixed in one file):
  one row per input line, with the event's fields or the reason the line was rejected.
inputs: {raw_lines: raw/log_files}
grain: [source_file, source_line]
--- */
-- raw_lines: source_file, source_line, text (line ending stripped; NULL when not UTF-8),
-- undecodable (the bytes of a non-UTF-8 line, \xNN-escaped), line_bytes, stream_error.
--
-- What a line may contain (anything else quarantines the line alone, with the reason in quotes;
-- the first rule a line breaks names it). Values are judged on their text, before any cast, so
-- DuckDB and Spark agree whatever their casts accept:
-- * Event time: ISO 8601 with a four-digit year (YYYY-...) in JSON, the CLF time in access logs;
--   otherwise 'missing or unparseable timestamp' ('infinity', '12345-01-01...', '-0001-...').
--   In UTC it must fall in 1970-01-01T00:00:00 <= ts < 2100-01-01T00:00:00, both bounds in UTC
--   ('1970-01-01T00:30:00+01:00' is 1969), else 'timestamp out of range': every later step
--   (Parquet, Python dates, epoch milliseconds) can then represent it.
-- * status: three digits from 100 to 599 (JSON: an integer or a string of three digits, so
--   200.7, 2e2, 200.0, "200 " are refused), else 'invalid HTTP status'.
-- * bytes: digits only, 0 <= bytes <= 2^40 (1 TiB, more than any single response), else
--   'invalid byte count'; absent, JSON null or '-' is 0. With this cap a day's sum(bytes) fits a
--   BIGINT unless the day has more than 2^23 (8.4 million) lines each claiming 1 TiB, and a DOUBLE
--   sum stays finite always (and exact up to 2^53).
-- * latency_ms: absent or null is NULL; else a plain decimal number (JSON number or numeric
--   string; no NaN, Infinity, hex or suffix), finite, 0 <= latency_ms <= 86,400,000 (one day),
--   else 'invalid latency' (quarantined rather than set to NULL: a value outside its domain
--   means a damaged or forged line, and the raw text stays for inspection). In access logs the
--   first trailing field, when it is a plain decimal, is nginx's $request_time in seconds.
-- Rules that need the whole file (a common-format line in a combined-format file) are applied by
-- lake/checked_lines, which reads these rows.
WITH classified AS (
    SELECT
        *,
        CASE
            WHEN stream_error IS NOT NULL THEN 'corrupt'
            -- before the UTF-8 test: a line cut at the reader's cap may end inside a character
            WHEN line_bytes > 1048576 THEN 'too_long'
            WHEN text IS NULL THEN 'not_utf8'
            WHEN regex_match(text, '^\s*$') THEN 'empty'
            WHEN substr(ltrim(text), 1, 1) = '{' THEN 'jsonl'
            ELSE 'access_log'
        END AS kind
    FROM raw_lines
),

json_lines AS (
    SELECT
        c.*,
        CASE WHEN kind = 'jsonl' THEN parse_event_json(text) END AS j
    FROM classified AS c
),

access_lines AS (
    SELECT
        c.*,
        CASE WHEN kind = 'access_log' THEN parse_clf(text) END AS a
    FROM json_lines AS c
),

-- The request line of an access log, split once: method, target, protocol ('' when unreadable).
request_lines AS (
    SELECT
        c.*,
        CASE WHEN kind = 'access_log' THEN parse_request(a.request) END AS r
    FROM access_lines AS c
),

-- One row per line with the fields in common form; the reject reason stays NULL for good lines.
fields AS (
    SELECT
        source_file,
        source_line,
        line_bytes,
        stream_error,
        undecodable,
        text,
        kind,
        CASE
            WHEN kind = 'jsonl' AND regex_match(j.ts, '^[0-9]{4}-') THEN iso_to_utc(j.ts)
            WHEN kind = 'access_log' AND a.status <> '' THEN clf_time_to_utc(a.time)
        END AS ts,
        CASE WHEN kind = 'jsonl' THEN j.ip ELSE nullif(a.host, '') END AS ip,
        CASE WHEN kind = 'jsonl' THEN j.user_id ELSE nullif(nullif(a.authuser, '-'), '') END AS user_id,
        CASE WHEN kind = 'jsonl' THEN j.session_id END AS session_id,
        CASE
            WHEN kind = 'jsonl' THEN upper(j.method)
            ELSE upper(nullif(r.method, ''))
        END AS method,
        CASE
            WHEN kind = 'jsonl' THEN j.path
            ELSE nullif(r.target, '')
        END AS target,
        CASE
            WHEN kind = 'jsonl' THEN j.protocol
            ELSE nullif(r.protocol, '')
        END AS protocol,
        CASE WHEN kind = 'jsonl' THEN j.status ELSE nullif(a.status, '') END AS status_text,
        CASE WHEN kind = 'jsonl' THEN j.bytes ELSE nullif(a.bytes, '') END AS bytes_text,
        CASE WHEN kind = 'jsonl' THEN j.latency_ms END AS latency_text,
        CASE
            WHEN kind = 'jsonl' THEN TRY_CAST(j.latency_ms AS DOUBLE)
            ELSE 1000.0 * TRY_CAST(
                nullif(regex_group(a.trailing, '^ +"?([0-9]+(?:\.[0-9]+)?)"?(?: |$)', 1), '') AS DOUBLE
            )
        END AS latency_ms,
        CASE
            WHEN kind = 'jsonl' THEN nullif(j.referrer, '-')
            ELSE nullif(nullif(unescape_clf(a.referrer), '-'), '')
        END AS referrer,
        CASE
            WHEN kind = 'jsonl' THEN nullif(j.user_agent, '-')
            ELSE nullif(nullif(unescape_clf(a.user_agent), '-'), '')
        END AS user_agent,
        CASE WHEN kind = 'jsonl' THEN lower(j.device) END AS declared_device,
        CASE WHEN kind = 'jsonl' THEN upper(nullif(j.country, '')) END AS country,
        CASE
            WHEN kind = 'jsonl' THEN 'jsonl'
            WHEN kind = 'access_log' AND a.combined = ' ' THEN 'combined'
            WHEN kind = 'access_log' THEN 'common'
        END AS log_format,
        j IS NULL AND kind = 'jsonl' AS bad_json,
        kind = 'access_log' AND a.status = '' AS bad_access_line
    FROM request_lines
),

checked AS (
    SELECT
        *,
        lower(user_agent) AS ua_lower,
        CASE
            WHEN kind = 'corrupt' THEN 'corrupt compressed stream: ' || stream_error
            WHEN kind = 'not_utf8' THEN 'not valid UTF-8'
            WHEN kind = 'too_long' THEN 'line longer than 1 MiB'
            WHEN kind = 'empty' THEN 'empty line'
            WHEN bad_json THEN 'invalid JSON (or not an object)'
            WHEN bad_access_line THEN 'not a recognised access-log line'
            WHEN ts IS NULL THEN 'missing or unparseable timestamp'
            WHEN CAST(ts AS DATE) < DATE '1970-01-01' OR CAST(ts AS DATE) >= DATE '2100-01-01'
                THEN 'timestamp out of range'
            -- \z, not $: a JSON string may end in a newline, which Java's $ would let through
            WHEN status_text IS NULL OR NOT regex_match(status_text, '^[1-5][0-9][0-9]\z')
                THEN 'invalid HTTP status'
            WHEN bytes_text IS NOT NULL AND bytes_text <> '-' AND NOT coalesce(
                regex_match(bytes_text, '^[0-9]+\z') AND TRY_CAST(bytes_text AS BIGINT) <= 1099511627776,
                false
            ) THEN 'invalid byte count'
            WHEN latency_text IS NOT NULL
                AND NOT regex_match(latency_text, '^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\z')
                THEN 'invalid latency'
            -- NaN sorts above every number in both engines, so it fails BETWEEN too
            WHEN NOT (latency_ms BETWEEN 0 AND 86400000) THEN 'invalid latency'
            WHEN kind = 'jsonl' AND (target IS NULL OR target = '') THEN 'missing path'
            WHEN ip IS NULL OR ip = '' THEN 'missing client address'
        END AS reject_reason
    FROM fields
),

-- Good lines, normalised: path without query string, request type from the path, device from
-- the user agent when the log does not declare it, and the visitor a session belongs to.
normalised AS (
    SELECT
        source_file,
        source_line,
        ts,
        CAST(ts AS DATE) AS event_date,
        ip,
        nullif(user_id, '') AS user_id,
        nullif(session_id, '') AS declared_session_id,
        coalesce(method, 'INVALID') AS method,
        CASE
            WHEN target IS NULL THEN '(invalid request)'
            WHEN instr(target, '?') > 0 THEN substr(target, 1, instr(target, '?') - 1)
            ELSE target
        END AS path,
        CASE WHEN instr(target, '?') > 0 THEN substr(target, instr(target, '?') + 1) END AS query_string,
        protocol,
        TRY_CAST(status_text AS INTEGER) AS status,
        coalesce(TRY_CAST(bytes_text AS BIGINT), 0) AS bytes,
        latency_ms,
        referrer,
        user_agent,
        coalesce(
            CASE WHEN declared_device IN ('desktop', 'mobile', 'tablet', 'bot') THEN declared_device END,
            CASE
                WHEN user_agent IS NULL THEN 'unknown'
                WHEN ua_lower LIKE '%bot%' OR ua_lower LIKE '%crawl%'
                    OR ua_lower LIKE '%spider%' OR ua_lower LIKE '%slurp%'
                    OR ua_lower LIKE 'curl/%' OR ua_lower LIKE 'wget/%'
                    OR ua_lower LIKE 'python-requests/%' OR ua_lower LIKE '%httpclient%'
                    OR ua_lower LIKE 'go-http-client/%' OR ua_lower LIKE 'java/%'
                    THEN 'bot'
                WHEN ua_lower LIKE '%ipad%' OR ua_lower LIKE '%tablet%'
                    OR ua_lower LIKE '%kindle%'
                    OR (ua_lower LIKE '%android%' AND ua_lower NOT LIKE '%mobile%')
                    THEN 'tablet'
                WHEN ua_lower LIKE '%mobile%' OR ua_lower LIKE '%iphone%'
                    OR ua_lower LIKE '%android%' OR ua_lower LIKE '%windows phone%'
                    THEN 'mobile'
                ELSE 'desktop'
            END
        ) AS device,
        country,
        log_format,
        coalesce(
            nullif(user_id, ''),
            'anon-' || substr(md5(ip || '|' || coalesce(user_agent, '')), 1, 16)
        ) AS visitor_id,
        reject_reason,
        -- common-format lines keep their text too: lake/checked_lines may still quarantine them
        CASE
            WHEN reject_reason IS NOT NULL OR log_format = 'common'
                THEN substr(coalesce(text, undecodable), 1, 65536)
        END AS raw_line
    FROM checked
),

typed AS (
    SELECT
        *,
        CASE
            WHEN reject_reason IS NOT NULL THEN NULL
            WHEN path = '(invalid request)' THEN 'invalid'
            WHEN path LIKE '/static/%' OR path LIKE '/images/%' OR path LIKE '/assets/%'
                OR path LIKE '%.css' OR path LIKE '%.js' OR path LIKE '%.png' OR path LIKE '%.jpg'
                OR path LIKE '%.jpeg' OR path LIKE '%.gif' OR path LIKE '%.ico' OR path LIKE '%.svg'
                OR path LIKE '%.woff' OR path LIKE '%.woff2' OR path LIKE '%.map' THEN 'static'
            WHEN path LIKE '/api/%' THEN 'api'
            WHEN path = '/checkout/complete' OR path LIKE '/order/confirm%' THEN 'purchase'
            WHEN path LIKE '/checkout%' THEN 'checkout'
            WHEN path LIKE '/cart%' THEN 'cart'
            WHEN path LIKE '/product/%' THEN 'product'
            WHEN path LIKE '/search%' THEN 'search'
            WHEN path IN ('/', '/home', '/index.html') OR path LIKE '/landing/%' THEN 'landing'
            ELSE 'page'
        END AS event_type
    FROM normalised
)


SELECT
    source_file, source_line, ts, event_date, ip, user_id, visitor_id, declared_session_id, method,
    path, query_string, protocol, status, bytes, latency_ms, referrer, user_agent, device, country,
    event_type, log_format, reject_reason, raw_line
FROM typed
