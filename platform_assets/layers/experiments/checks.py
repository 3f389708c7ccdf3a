"""Experiment checks: the deployment's versions intact, the decision log readable, one A/B row per arm.

The decision lake's line count is reconciled inside its ingest step (``lines_reconcile``, as for
the events lake); these run in one step per partitioning (the deployment has none, a decision
file is a ``log_files`` partition, A/B results are daily).
"""

import dagster as dg

from platform_assets.layers.common.checks import CheckRun, check, checks_step, offender_result
from platform_assets.layers.experiments.assets import AB_RESULTS, DECISION_QUARANTINE, DEPLOYMENT
from platform_assets.lib.layout import file_id
from platform_assets.lib.ml.deployment import DeploymentStore
from platform_assets.lib.ml.model_store import ModelIntegrityError

# A server writes its own log: more than this share of unreadable lines is a bug to look at.
MAX_DECISION_QUARANTINE_SHARE = 0.01


@check(
    DEPLOYMENT,
    "versions_intact",
    blocking=True,
    description="Every version the deployment in force serves (challengers and shadow) is registered "
    "and its files match the registry's sha256, and a champion exists for the champion arm.",
)
def versions_intact(run: CheckRun, key: str) -> dg.AssetCheckResult:
    store = run.storage.model_store()
    current = DeploymentStore(run.storage.layout.models).current()
    if current is None:
        return dg.AssetCheckResult(passed=True, description="no deployment yet: the champion answers alone")
    versions = [a.version for a in current.arms if a.version] + ([current.shadow] if current.shadow else [])
    problems = []
    if store.champion() is None:
        problems.append("no champion is registered for the champion arm")
    for version in versions:
        try:
            store.verify(version)
        except (ModelIntegrityError, ValueError) as error:
            problems.append(f"{version}: {error}")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"deployment_id": current.id, "versions": ", ".join(versions) or "champion only"},
        description="; ".join(problems) or None,
    )


@check(
    DECISION_QUARANTINE,
    "quarantine_share",
    blocking=False,
    description=f"At most {MAX_DECISION_QUARANTINE_SHARE:.0%} of a decision log's lines are quarantined: "
    "the server writes them itself, so more means a bug in the writer or damage on the way.",
)
def quarantine_share(run: CheckRun, key: str) -> dg.AssetCheckResult:
    current = run.storage.layout.decisions_catalog.current(file_id(key))
    if current is None:
        return dg.AssetCheckResult(passed=False, description=f"{key} has no ingest in the decision lake")
    lines, quarantined = current.lines or 0, current.quarantined or 0
    share = quarantined / lines if lines else 0.0
    return dg.AssetCheckResult(
        passed=share <= MAX_DECISION_QUARANTINE_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lines": lines, "quarantined": quarantined, "share": share},
        description=f"{quarantined} of {lines} lines quarantined"
        if share > MAX_DECISION_QUARANTINE_SHARE
        else None,
    )


_ONE_ROW_PER_ARM_SQL = """
SELECT experiment, arm, count(*) AS n, count(*) OVER () AS offending
FROM main.ab_results WHERE event_date = CAST($1 AS DATE)
GROUP BY experiment, arm
HAVING experiment IS NULL OR arm IS NULL OR count(*) > 1
ORDER BY experiment, arm LIMIT 5
"""


@check(
    AB_RESULTS,
    "one_row_per_arm",
    blocking=True,
    description="The day's A/B results hold exactly one row per experiment and arm, each named.",
)
def one_row_per_arm(run: CheckRun, day: str) -> dg.AssetCheckResult:
    rows = run.warehouse(_ONE_ROW_PER_ARM_SQL, [day])
    return offender_result(rows, "offending_arms", "{count} (experiment, arm) pairs are not one named row")


deployment_checks = checks_step("deployment_checks", [versions_intact])
decision_checks = checks_step("decision_checks", [quarantine_share])
ab_checks = checks_step("ab_checks", [one_row_per_arm])
