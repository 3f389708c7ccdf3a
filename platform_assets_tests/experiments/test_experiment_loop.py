"""Decisions come back as data and decide their own A/B test.

A planted experiment: visitors with known outcomes (the warehouse's session features, made by
hand), a deployment that splits them sticky per visitor, and decision logs written as the server
writes them, whose challenger predicts truly better or truly worse than the champion. The landing
sensor routes the logs to the decision lake, ``experiments/ab_results`` judges the day and the
experiment sensor ends the experiment: a promotion run for the better challenger, the champion kept
(and the decision recorded in the registry) for the worse one.
"""

import datetime as dt
from collections import Counter
from contextlib import closing

import dagster as dg
import numpy as np
import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.experiments.assets import AB_RESULTS, DECISIONS, verdicts_of
from platform_assets.layers.experiments.sensors import build_experiment_sensor
from platform_assets.layers.lake.assets import LINES_RECONCILE
from platform_assets.layers.raw.sensors import landing_files_sensor
from platform_assets.lib.decision_log import FOLDER, DecisionLog
from platform_assets.lib.ml.deployment import CHAMPION, Arm, DeploymentStore, assign
from platform_assets.lib.ml.model_store import ModelStore

DAY = dt.date(2025, 3, 4)
SHARE = 0.2


def _sessions(seed: int, visitors: int):
    """Sessions of ``visitors`` on DAY (1-5 each) with a known conversion probability (logit)."""
    rng = np.random.default_rng(seed)
    visitor = np.repeat(np.arange(visitors), rng.geometric(0.6, visitors))
    logit = rng.normal(-3, 1, visitors)[visitor] + rng.normal(0, 0.5, len(visitor))
    label = (rng.random(len(visitor)) < 1 / (1 + np.exp(-logit))).astype(int)
    start = np.datetime64(f"{DAY}T00:00:00") + np.sort(rng.integers(0, 86_000, len(visitor))).astype(
        "timedelta64[s]"
    )
    return [f"visitor-{v}" for v in visitor], logit, label, start, rng


def _plant(layout, seed: int, champion_noise: float, challenger_noise: float) -> dict:
    """Session features by hand, a 80/20 deployment, the server's decision logs landed."""
    visitors, logit, label, start, rng = _sessions(seed, 6000)
    sessions = [f"s-{seed}-{i}" for i in range(len(visitors))]
    engine = DuckDBEngine(data_dir=str(layout.root))
    with closing(engine.connect(str(layout.warehouse_db))) as con:
        con.execute(
            "CREATE TABLE session_features (event_date DATE, session_id VARCHAR, visitor_id VARCHAR, "
            "session_start TIMESTAMP, label INTEGER)"
        )
        con.executemany(
            "INSERT INTO session_features VALUES (?, ?, ?, ?, ?)",
            [
                (DAY, s, v, t.astype(dt.datetime), int(y))
                for s, v, t, y in zip(sessions, visitors, start, label, strict=True)
            ],
        )
    deployment = DeploymentStore(layout.models).deploy(
        "exp-1",
        [Arm(CHAMPION, None, 1 - SHARE), Arm("challenger", "v0002", SHARE)],
        reason="test",
        actor="pytest",
    )
    log = DecisionLog(layout.landing, max_lines=5000)
    arms = []
    for i, (visitor, session, when) in enumerate(zip(visitors, sessions, start, strict=True)):
        arm = assign(deployment, visitor)
        noise = challenger_noise if arm.name == "challenger" else champion_noise
        probability = float(1 / (1 + np.exp(-(logit[i] + rng.normal() * noise))))
        request = when.astype(dt.datetime) + dt.timedelta(seconds=int(rng.integers(0, 20)))
        log.append(
            {
                "decision_id": f"{seed:08x}{i:024x}",
                "ts": request.isoformat() + "Z",
                "request_time": request.isoformat() + "Z",
                "experiment": "exp-1",
                "deployment_id": deployment.id,
                "visitor_id": visitor,
                # half the applications send the session id; the others are matched by time
                "session_id": session if i % 2 else None,
                "arm": arm.name,
                "version": arm.version or "v0001",
                "probability": probability,
                "label": int(probability >= 0.3),
                "threshold": 0.3,
                "features": {"device": "mobile"},
            }
        )
        arms.append(arm.name)
    log.close()
    return {"sessions": Counter(arms), "files": len(log.published)}


def ingest_and_judge(defs, instance, layout, day: dt.date = DAY) -> list[dict]:
    """The landing sensor's decision-log runs (each file's lines reconciled), then the day judged."""
    storage = PlatformStorage(data_dir=str(layout.root))
    requests = []
    cursor = None
    for _ in range(2):  # a file is requested once stable for a tick
        result = landing_files_sensor(
            dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
        )
        cursor = result.cursor
        for add in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions("log_files", list(add.partition_keys))
        requests += result.run_requests or []
    # decision logs go to their own job (event logs the instance does not know yet to theirs)
    for request in requests:
        decision = request.partition_key.startswith(f"{FOLDER}/")
        assert request.job_name == ("ingest_decision_log" if decision else "ingest_log_file")
    requests = [r for r in requests if r.job_name == "ingest_decision_log"]
    assert requests
    for request in requests:
        run = defs.resolve_job_def(request.job_name).execute_in_process(
            partition_key=request.partition_key, instance=instance
        )
        (check,) = [c for c in run.get_asset_check_evaluations() if c.check_name == LINES_RECONCILE]
        assert check.passed and check.asset_key == DECISIONS
    judged = defs.resolve_job_def("judge_experiments").execute_in_process(
        partition_key=day.isoformat(), instance=instance
    )
    (materialization,) = judged.asset_materializations_for_node("experiments__ab_results")
    return verdicts_of(materialization.metadata)


@pytest.mark.parametrize(
    ("champion_noise", "challenger_noise", "expected"),
    [(2.0, 0.5, "challenger_better"), (0.5, 2.0, "challenger_worse")],
)
def test_a_planted_challenger_is_judged_and_the_experiment_decided(
    defs, instance, layout, champion_noise, challenger_noise, expected
):
    """Each arm's model sees the true logit through noise of its own size: less is better."""
    planted = _plant(layout, seed=7, champion_noise=champion_noise, challenger_noise=challenger_noise)
    assert planted["files"] >= 2  # rotated logs, several ingests
    (verdict,) = ingest_and_judge(defs, instance, layout)
    (comparison,) = verdict["comparisons"]
    assert verdict["experiment"] == "exp-1" and verdict["decision"] == expected
    assert comparison["decision"] == expected and verdict["pending_sessions"] == 0
    assert comparison["sessions"] == sum(planted["sessions"].values())  # every session matched
    engine = DuckDBEngine(data_dir=str(layout.root))
    rows = engine.read_frame("SELECT arm, sessions FROM ab_results WHERE event_date = ? ORDER BY arm", [DAY])
    assert dict(zip(rows["arm"], rows["sessions"], strict=True)) == dict(planted["sessions"])

    sensor = build_experiment_sensor(layout.models)
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    ended = DeploymentStore(layout.models).current()
    assert ended.status == "ended" and ended.arms == (Arm(CHAMPION, None, 1.0),)
    assert ended.evidence["decision"] == expected
    if expected == "challenger_better":
        (request,) = result.run_requests
        assert request.job_name == "promote_champion"
        config = request.run_config["ops"]["models__champion"]["config"]
        assert config["version"] == "v0002" and "exp-1" in config["reason"]
    else:
        assert not result.run_requests
        (kept,) = ModelStore(layout.models).decisions()
        assert kept["action"] == "keep" and kept["evidence"]["decision"] == "challenger_worse"
    # a second look at the same verdict changes nothing: the experiment has ended
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert not again.run_requests
    assert len(DeploymentStore(layout.models).history()) == 2


def test_the_events_ingest_refuses_a_decision_log(defs, instance, layout):
    log = DecisionLog(layout.landing)
    log.append({"decision_id": "0" * 32})
    key = f"{FOLDER}/{log.close().name}"
    instance.add_dynamic_partitions("log_files", [key])
    run = defs.resolve_job_def("ingest_log_file").execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False
    )
    assert not run.success
    assert "decision log" in str(run.get_step_failure_events()[0].event_specific_data.error.message)
    assert AB_RESULTS  # the experiments layer is part of the definitions
    assert defs.resolve_assets_def(AB_RESULTS)
