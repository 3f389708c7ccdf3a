/* ---
description: >-
  The prediction server's decisions, from its decision log: one row per answer (arm, model
  version, probability, label, shadow score and the features served), by UTC day of the request.
inputs: {raw_lines: raw/log_files}
grain: [source_file, source_line]
partition_column: event_date
# Small files (a server rotates its log every few thousand answers): DuckDB alone parses them.
engines: [duckdb]
types:
  {event_date: DATE, request_time: TIMESTAMP, ts: TIMESTAMP, decision_id: VARCHAR, experiment: VARCHAR,
   deployment_id: BIGINT, visitor_id: VARCHAR, session_id: VARCHAR, arm: VARCHAR, version: VARCHAR,
   probability: DOUBLE, label: INTEGER, threshold: DOUBLE, shadow_version: VARCHAR,
   shadow_probability: DOUBLE, features: VARCHAR, source_file: VARCHAR, source_line: BIGINT}
columns:
  event_date: UTC date of request_time; the partition (date=YYYY-MM-DD).
  request_time: When the session started, as the application sent it (UTC).
  ts: When the server answered (UTC).
  decision_id: The answer's id (32 hex digits), unique per answer.
  experiment: The deployment's experiment the answer belongs to.
  deployment_id: The deployment in force when the server answered.
  visitor_id: The visitor the answer is for (its arm is sticky per visitor and experiment).
  session_id: The session, when the application sent it.
  arm: The arm that answered (champion or a challenger's name).
  version: The model version that answered.
  probability: The conversion probability answered, in [0, 1].
  label: 1 when the probability reached the model's threshold, else 0.
  threshold: The model's decision threshold.
  shadow_version: The shadow model scored beside the answer, NULL when none.
  shadow_probability: The shadow model's probability (never answered), NULL when none.
  features: The feature values the model was given, as a JSON object.
  source_file: Decision log file, relative to the landing folder.
  source_line: 1-based line number in that file.
--- */
-- Every line is a decision row or a quarantine row (reject_reason, raw_line), never dropped.
WITH lines AS (
    SELECT
        *,
        CASE
            WHEN text IS NOT NULL AND json_valid(text) AND json_type(text::JSON) = 'OBJECT' THEN text::JSON
        END AS j
    FROM raw_lines
),

fields AS (
    SELECT
        source_file,
        source_line,
        line_bytes,
        stream_error,
        text,
        undecodable,
        j,
        j ->> 'decision_id' AS decision_id,
        CASE WHEN regexp_matches(j ->> 'ts', '^[0-9]{4}-') THEN iso_to_utc(j ->> 'ts') END AS ts,
        CASE
            WHEN regexp_matches(j ->> 'request_time', '^[0-9]{4}-') THEN iso_to_utc(j ->> 'request_time')
        END AS request_time,
        j ->> 'experiment' AS experiment,
        j ->> 'deployment_id' AS deployment_id_text,
        j ->> 'visitor_id' AS visitor_id,
        nullif(j ->> 'session_id', '') AS session_id,
        j ->> 'arm' AS arm,
        j ->> 'version' AS version,
        j ->> 'probability' AS probability_text,
        j ->> 'label' AS label_text,
        j ->> 'threshold' AS threshold_text,
        j ->> 'shadow_version' AS shadow_version,
        j ->> 'shadow_probability' AS shadow_probability_text,
        CAST(json_extract(j, '$.features') AS VARCHAR) AS features
    FROM lines
),

checked AS (
    SELECT
        *,
        CASE
            WHEN stream_error IS NOT NULL THEN 'corrupt compressed stream: ' || stream_error
            WHEN line_bytes > 1048576 THEN 'line longer than 1 MiB'
            WHEN text IS NULL THEN 'not valid UTF-8'
            WHEN regexp_matches(text, '^\s*$') THEN 'empty line'
            WHEN j IS NULL THEN 'invalid JSON (or not an object)'
            WHEN decision_id IS NULL OR NOT regexp_matches(decision_id, '^[0-9a-f]{32}$')
                THEN 'invalid decision_id'
            WHEN ts IS NULL OR request_time IS NULL THEN 'missing or unparseable timestamp'
            WHEN CAST(request_time AS DATE) < DATE '1970-01-01' OR CAST(request_time AS DATE) >= DATE '2100-01-01'
                THEN 'timestamp out of range'
            WHEN experiment IS NULL OR NOT regexp_matches(experiment, '^[a-z][a-z0-9_-]{0,39}$')
                THEN 'invalid experiment'
            WHEN deployment_id_text IS NULL OR NOT regexp_matches(deployment_id_text, '^[0-9]{1,18}$')
                THEN 'invalid deployment_id'
            WHEN visitor_id IS NULL OR visitor_id = '' OR length(visitor_id) > 256 THEN 'invalid visitor_id'
            WHEN length(session_id) > 256 THEN 'invalid session_id'
            WHEN arm IS NULL OR NOT regexp_matches(arm, '^[a-z][a-z0-9_-]{0,39}$') THEN 'invalid arm'
            WHEN version IS NULL OR NOT regexp_matches(version, '^v[0-9]{4,}$') THEN 'invalid version'
            WHEN NOT coalesce(TRY_CAST(probability_text AS DOUBLE) BETWEEN 0 AND 1, false)
                THEN 'invalid probability'
            WHEN label_text IS NULL OR label_text NOT IN ('0', '1') THEN 'invalid label'
            WHEN NOT coalesce(TRY_CAST(threshold_text AS DOUBLE) BETWEEN 0 AND 1, false) THEN 'invalid threshold'
            WHEN shadow_version IS NOT NULL AND NOT regexp_matches(shadow_version, '^v[0-9]{4,}$')
                THEN 'invalid shadow version'
            WHEN (shadow_version IS NULL) <> (shadow_probability_text IS NULL)
                OR NOT coalesce(TRY_CAST(shadow_probability_text AS DOUBLE) BETWEEN 0 AND 1, true)
                THEN 'invalid shadow probability'
            WHEN features IS NOT NULL AND json_type(features::JSON) <> 'OBJECT' THEN 'invalid features'
        END AS reject_reason
    FROM fields
)

SELECT
    CAST(request_time AS DATE) AS event_date,
    request_time,
    ts,
    decision_id,
    experiment,
    TRY_CAST(deployment_id_text AS BIGINT) AS deployment_id,
    visitor_id,
    session_id,
    arm,
    version,
    TRY_CAST(probability_text AS DOUBLE) AS probability,
    TRY_CAST(label_text AS INTEGER) AS label,
    TRY_CAST(threshold_text AS DOUBLE) AS threshold,
    shadow_version,
    TRY_CAST(shadow_probability_text AS DOUBLE) AS shadow_probability,
    features,
    source_file,
    source_line,
    reject_reason,
    CASE WHEN reject_reason IS NOT NULL THEN substr(coalesce(text, undecodable), 1, 65536) END AS raw_line
FROM checked
