"""The experiment sensor: ends a running experiment once its A/B result is decisive or its budget
is spent, and promotes a better challenger only through the models layer's own gate.

Each new ``experiments/ab_results`` materialization carries one verdict per experiment it judged
(lib/ml/ab_test.py). For the experiment in force, a verdict other than ``continue`` ends it (the
champion answers alone again, the verdict kept as the ended deployment's evidence) and:
- ``challenger_better``: one ``promote_champion`` run materializes ``models/champion`` with the
  challenger's version, which refuses a version that failed its offline gate or whose files are
  not intact; the registry records the move and its reason (the experiment and its interval);
- ``challenger_worse`` or ``budget_spent``: the registry records that the champion was kept.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from platform_assets.layers.common.cursors import read_cursor, write_cursor
from platform_assets.layers.common.names import (
    AB_RESULTS_JOB,
    DECISION_DAYS_SENSOR,
    EXPERIMENT_SENSOR,
    PROMOTE_JOB,
)
from platform_assets.layers.experiments.assets import AB_RESULTS, DECISIONS, verdicts_of
from platform_assets.layers.lake.sensors import WAREHOUSE_WRITER_TAG
from platform_assets.lib.ml.deployment import DeploymentStore
from platform_assets.lib.ml.model_store import ModelStore

CHAMPION_OP = "models__champion"


def decide(models: Path, verdicts: list[dict], log) -> list[dg.RunRequest]:
    """Act on the verdicts of one look (see the module docstring); returns the promotion runs.
    ``models``: the data directory's models folder (registry and deployment history)."""
    deployments = DeploymentStore(models)
    requests = []
    for verdict in verdicts:
        if verdict.get("decision", "continue") == "continue":
            continue
        current = deployments.current()
        experiment = verdict["experiment"]
        if current is None or current.experiment != experiment or current.status != "running":
            continue  # ended already, or not the experiment in force
        better = [c for c in verdict["comparisons"] if c["decision"] == "challenger_better"]
        best = min(better, key=lambda c: c["interval"][1]) if better else None
        why = (
            f"experiment {experiment}: {best['arm']} ({best['version']}) predicts better than the champion, "
            f"log loss difference {best['difference']:+.4f}, always-valid interval "
            f"[{best['interval'][0]:.4f}, {best['interval'][1]:.4f}]"
            if best
            else f"experiment {experiment} ended ({verdict['decision']}): "
            + "; ".join(f"{c['arm']} {c['decision']} ({c['reason']})" for c in verdict["comparisons"])
        )
        deployments.end(experiment, reason=why, actor=EXPERIMENT_SENSOR, evidence=verdict)
        log.info(f"{EXPERIMENT_SENSOR}: {why}")
        if best is None:
            ModelStore(models).record_decision(
                {"action": "keep", "reason": why, "by": EXPERIMENT_SENSOR, "evidence": verdict}
            )
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"promote:{experiment}",
                job_name=PROMOTE_JOB,
                run_config={"ops": {CHAMPION_OP: {"config": {"version": best["version"], "reason": why}}}},
                tags={"platform/experiment": experiment},
            )
        )
    return requests


def build_experiment_sensor(models: Path, *, minimum_interval_seconds: int = 30) -> dg.SensorDefinition:
    """The experiment sensor (see the module docstring) of the models folder ``models``."""

    @dg.asset_sensor(
        asset_key=AB_RESULTS,
        name=EXPERIMENT_SENSOR,
        job_name=PROMOTE_JOB,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Ends the experiment in force when its A/B result is decisive or its budget is "
        "spent; promotes a better challenger through models/champion's gate.",
    )
    def _experiment_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        materialization = asset_event.asset_materialization
        metadata = materialization.metadata if materialization else {}
        requests = decide(Path(models), verdicts_of(metadata), context.log)
        return dg.SensorResult(run_requests=requests) if requests else dg.SkipReason("no decisive verdict")

    return _experiment_sensor


def build_decision_days_sensor(
    *, minimum_interval_seconds: int = 30, max_records: int = 1000
) -> dg.SensorDefinition:
    """Judges again every day a newly ingested decision-log file touched: one ``judge_experiments``
    run per day (run key: the day and the storage id of the latest file touching it)."""

    @dg.sensor(
        job_name=AB_RESULTS_JOB,
        name=DECISION_DAYS_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts one judge_experiments run per UTC day that newly ingested decision logs touched.",
    )
    def _decision_days_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            after = read_cursor(context.cursor)
        except ValueError:
            after = 0
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=DECISIONS, after_storage_id=after),
            limit=max_records,
            ascending=True,
        ).records
        latest: dict[str, int] = {}
        for record in records:
            materialization = record.asset_materialization
            entry = materialization.metadata.get("decisions_by_day") if materialization else None
            for day in getattr(entry, "value", None) or {}:
                latest[str(day)] = max(latest.get(str(day), 0), record.storage_id)
        cursor = write_cursor(records[-1].storage_id if records else after)
        requests = [
            dg.RunRequest(run_key=f"{day}:{storage_id}", partition_key=day, tags=WAREHOUSE_WRITER_TAG)
            for day, storage_id in sorted(latest.items())
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _decision_days_sensor
