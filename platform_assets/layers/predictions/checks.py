"""Prediction checks, per day: one row per session, valid probabilities, one known model."""

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step, offender_result
from platform_assets.layers.predictions.assets import SESSION_PREDICTIONS

_ONE_PER_SESSION_SQL = """
WITH f AS (SELECT session_id FROM main.session_features WHERE event_date = CAST($1 AS DATE)),
p AS (SELECT session_id, count(*) AS n FROM main.session_predictions
      WHERE event_date = CAST($1 AS DATE) GROUP BY session_id),
problems AS (
    SELECT coalesce(f.session_id, p.session_id) AS session_id,
        CASE WHEN p.session_id IS NULL THEN 'session not scored'
             WHEN f.session_id IS NULL THEN 'scored session not in the features'
             ELSE 'scored ' || p.n || ' times' END AS problem
    FROM f FULL JOIN p ON f.session_id = p.session_id
    WHERE p.session_id IS NULL OR f.session_id IS NULL OR p.n > 1
)
SELECT *, count(*) OVER () AS offending FROM problems ORDER BY session_id LIMIT 5
"""

_VALID_SQL = """
WITH p AS (SELECT * FROM main.session_predictions WHERE event_date = CAST($1 AS DATE)),
versions AS (SELECT count(DISTINCT model_version) AS n FROM p)
SELECT session_id, model_version, probability, predicted_label, threshold,
    CASE WHEN probability IS NULL OR isnan(probability) THEN 'no probability'
         WHEN probability < 0 OR probability > 1 THEN 'probability outside [0, 1]'
         WHEN model_version IS NULL THEN 'no model version'
         WHEN (SELECT n FROM versions) > 1 THEN 'the day mixes model versions'
         WHEN predicted_label <> CAST(probability >= threshold AS INTEGER)
            THEN 'label disagrees with threshold'
    END AS problem,
    count(*) OVER () AS offending
FROM p
WHERE probability IS NULL OR isnan(probability) OR probability < 0 OR probability > 1
   OR model_version IS NULL OR (SELECT n FROM versions) > 1
   OR predicted_label <> CAST(probability >= threshold AS INTEGER)
ORDER BY session_id LIMIT 5
"""


@check(
    SESSION_PREDICTIONS,
    "one_per_session",
    blocking=True,
    description="Every session of the day's features has exactly one prediction, and every "
    "prediction is of a session of that day.",
)
def one_per_session(run: CheckRun, day: str) -> dg.AssetCheckResult:
    rows = run.warehouse(_ONE_PER_SESSION_SQL, [day])
    return offender_result(rows, "offending_sessions", "{count} sessions are not scored exactly once")


@check(
    SESSION_PREDICTIONS,
    "valid_probabilities",
    blocking=True,
    description="Probabilities are numbers in [0, 1], the predicted label follows the threshold, "
    "and one model version scored the whole day.",
)
def valid_probabilities(run: CheckRun, day: str) -> dg.AssetCheckResult:
    rows = run.warehouse(_VALID_SQL, [day])
    return offender_result(rows, "offending_rows", "{count} predictions are invalid")


prediction_checks = checks_step("predictions_checks", [one_per_session, valid_probabilities])
