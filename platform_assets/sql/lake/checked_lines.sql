/* ---
description: >-
  Parsed lines with the rules that need the whole file: in a file whose access-log lines are
  mostly in the combined format, a line in the shorter common format is quarantined (a combined
  line cut short, e.g. inside its bytes field, reads as a valid common line).
inputs: {parsed_lines: lake/parse_lines}
grain: [source_file, source_line]
--- */
-- Rule: among a file's access-log lines that passed every line rule of lake/parse_lines, when the
-- combined-format lines outnumber the common-format ones (at least one combined line and a strict
-- majority), each common-format line is quarantined as 'common-format line in a combined-format
-- file (truncated?)'. A server writes one format per log, so the minority format is a damaged
-- line; a file all in the common format, or with as many common as combined lines, keeps them
-- all. JSON lines do not count. Lines cut inside a quoted field never match a format at all
-- ('not a recognised access-log line').
-- The counts need every line of the file: DuckDB applies this to the lines it staged for
-- sessionising (every accepted access-log line is there), Spark to its persisted parsed lines.
WITH file_formats AS (
    SELECT
        source_file,
        count(CASE WHEN log_format = 'combined' THEN 1 END) AS combined_lines,
        count(CASE WHEN log_format = 'common' THEN 1 END) AS common_lines
    FROM parsed_lines
    WHERE reject_reason IS NULL
    GROUP BY source_file
)

SELECT
    p.source_file, p.source_line, p.ts, p.event_date, p.ip, p.user_id, p.visitor_id,
    p.declared_session_id, p.method, p.path, p.query_string, p.protocol, p.status, p.bytes,
    p.latency_ms, p.referrer, p.user_agent, p.device, p.country, p.event_type, p.log_format,
    CASE
        WHEN p.reject_reason IS NULL AND p.log_format = 'common' AND f.combined_lines > f.common_lines
            THEN 'common-format line in a combined-format file (truncated?)'
        ELSE p.reject_reason
    END AS reject_reason,
    p.raw_line
FROM parsed_lines AS p
LEFT JOIN file_formats AS f ON p.source_file = f.source_file
