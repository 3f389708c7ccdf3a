"""The ML lifecycle end to end: normal days, a champion, drifted days (``generate-logs --drift``),
drift detected, retraining requested by the sensor, the challenger promoted or kept with its
reason, predictions carrying the model version, and a rollback from the CLI.

Expected values are computed outside the platform: the models are read back with skops after
checking their bytes with hashlib against the registry, the held-out rows and predictions are read
with DuckDB, and the scores are recomputed with scikit-learn.
"""

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
import skops.io as sio
from sklearn.metrics import log_loss, roc_auc_score

from platform_assets.definitions import build_definitions
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.ml.model_store import TRUSTED_TYPES
from platform_assets.lib.ml.retraining import RetrainPolicy
from platform_assets.lib.ml.training import prepare_features
from platform_assets.settings import PlatformSettings
from platform_assets_tests.checks_support import build_days, days, ingest, materialized

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "platform_assets.cli"]
START = "2026-05-01"
NORMAL_DAYS, DRIFT_DAYS, EVENTS = 9, 4, 3000
MONITOR = "monitor_day"


def generate(landing: Path, start: str, count: int, seed: int, drift: float) -> None:
    args = ["generate-logs", "--out", str(landing), "--start-date", start, "--days", str(count)]
    args += ["--events-per-day", str(EVENTS), "--seed", str(seed), "--drift", str(drift)]
    subprocess.run(CLI + args, check=True, capture_output=True, timeout=300)


def land_and_build(defs, instance, layout, first: str, count: int) -> None:
    """Ingest the files not ingested yet, then build their days in one range run."""
    done = set(instance.get_dynamic_partitions("log_files"))
    for key in layout.landed_keys():
        if key not in done:
            assert ingest(defs, instance, key).success, key
    built = days(first, count)
    assert build_days(defs, instance, built[0], built[-1]).success


def registry(root: Path) -> dict:
    return json.loads((root / "models" / "registry.json").read_text())


def load_model(root: Path, version: str):
    """A registered model read back independently: bytes checked with hashlib, then skops."""
    entry = next(e for e in registry(root)["versions"] if e["version"] == version)
    data = (root / "models" / version / "model.skops").read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    return sio.loads(data, trusted=list(TRUSTED_TYPES))


def features(root: Path, first: str, last: str):
    con = duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT * FROM session_features WHERE event_date BETWEEN ? AND ? ORDER BY event_date, session_id",
            [first, last],
        ).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    """Normal days -> train (champion v0001) -> drifted days -> monitor -> sensor -> retrain."""
    root = tmp_path_factory.mktemp("lifecycle") / "platform"
    defs = build_definitions(PlatformSettings(data_dir=root))
    layout = DataLayout(root).ensure()
    drift_start = (dt.date.fromisoformat(START) + dt.timedelta(days=NORMAL_DAYS)).isoformat()
    normal, drifted = days(START, NORMAL_DAYS), days(drift_start, DRIFT_DAYS)
    with dg.instance_for_test() as instance:
        generate(layout.landing, START, NORMAL_DAYS, seed=11, drift=0.0)
        land_and_build(defs, instance, layout, START, NORMAL_DAYS)
        first = defs.resolve_job_def("train_model").execute_in_process(instance=instance)
        assert first.success

        generate(layout.landing, drift_start, DRIFT_DAYS, seed=12, drift=1.0)
        land_and_build(defs, instance, layout, drift_start, DRIFT_DAYS)
        monitored = {}
        for day in drifted:
            result = defs.resolve_job_def(MONITOR).execute_in_process(partition_key=day, instance=instance)
            assert result.success, day
            monitored[day] = result

        sensor = defs.get_sensor_def("retrain_on_drift")
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            tick = sensor(context)
        requests = list(tick.run_requests or [])
        retrain = None
        if requests:
            request = requests[0]
            retrain = defs.resolve_job_def("train_model").execute_in_process(
                instance=instance, run_config=request.run_config, tags=request.tags, raise_on_error=False
            )
        with dg.build_sensor_context(instance=instance, definitions=defs, cursor=tick.cursor) as context:
            second_tick = sensor(context)
        yield {
            "root": root,
            "defs": defs,
            "instance": instance,
            "normal": normal,
            "drifted": drifted,
            "first": first,
            "monitored": monitored,
            "requests": requests,
            "retrain": retrain,
            "second_tick": second_tick,
        }


def test_the_first_model_becomes_champion(lifecycle):
    first = registry(lifecycle["root"])["decisions"][0]
    assert (first["action"], first["challenger"], first["champion"]) == ("promote", "v0001", "v0001")
    assert {"models/conversion_model", "models/champion"} <= materialized(lifecycle["first"])


def test_drift_is_detected_on_the_drifted_days(lifecycle):
    threshold = RetrainPolicy().drift_share  # what the sensor compares with (default settings)
    shares = {}
    for day, result in lifecycle["monitored"].items():
        drift = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
        meta = {k: v.value for k, v in drift["monitoring/feature_drift"].materialization.metadata.items()}
        assert meta["reference_model"] == "v0001"
        report = json.loads(Path(meta["report_json"]).read_text())
        assert report["metrics"]  # the Evidently JSON, one per day
        shares[day] = meta["drift_share"]
        assert Path(meta["report_html"]).name == "v0001.html" and day in meta["report_html"]
    assert all(share >= threshold for share in shares.values()), shares


def test_retraining_is_requested_once_for_the_newest_drifted_day(lifecycle):
    requests = lifecycle["requests"]
    assert len(requests) == 1
    request = requests[0]
    last = lifecycle["drifted"][-1]
    assert request.run_key == f"retrain:v0001:{last}"
    assert request.tags["platform/trigger-day"] == last
    assert request.tags["platform/retrain-reason"].startswith("feature drift share")
    assert not lifecycle["second_tick"].run_requests  # the cursor consumed those reports


def test_the_challenger_is_promoted_or_kept_with_both_scores_recorded(lifecycle):
    root = lifecycle["root"]
    reg = registry(root)
    decision = next(e for e in reg["versions"] if e["version"] == "v0002")["decision"]
    holdout = decision["holdout"]
    # recompute both models' scores on the same held-out rows, outside the platform
    rows = features(root, holdout["start"], holdout["end"])
    assert len(rows) == holdout["rows"] == decision["challenger_scores"]["rows"]
    labels = rows["label"].to_numpy(dtype=int)
    for version, recorded in (
        ("v0002", decision["challenger_scores"]),
        ("v0001", decision["champion_scores"]),
    ):
        p = load_model(root, version).predict_proba(prepare_features(rows))[:, 1]
        assert np.isclose(log_loss(labels, p), recorded["log_loss"], rtol=1e-9)
        assert np.isclose(roc_auc_score(labels, p), recorded["roc_auc"], rtol=1e-9)
    gain = decision["champion_scores"]["log_loss"] - decision["challenger_scores"]["log_loss"]
    versus = decision["comparisons"]["champion"]["log_loss"]  # the paired bootstrap's figures
    assert np.isclose(versus["estimate"], gain, rtol=1e-9, atol=1e-12) and versus["lower"] <= gain
    assert versus["level"] == decision["level"] and versus["rows"] == holdout["rows"]
    assert versus["units"] == rows["visitor_id"].nunique()  # resampled by visitor
    # the rule: the one-sided lower bound of the gain reaches the margin, and every gate passed
    promoted = (
        versus["lower"] >= decision["margin"]
        and versus["lower"] > 0
        and all(g["passed"] for g in decision["gates"].values())
    )
    assert decision["action"] == ("promote" if promoted else "keep")
    assert reg["champion"] == ("v0002" if promoted else "v0001")
    assert decision["reason"]  # promoted or kept, the reason is on record
    assert lifecycle["retrain"].success is promoted
    assert ("models/champion" in materialized(lifecycle["retrain"])) is promoted
    if not promoted:
        assert reg["decisions"][-1]["action"] == "keep" and reg["decisions"][-1]["challenger"] == "v0002"


def test_predictions_carry_the_champion_version_and_its_scores(lifecycle):
    root, defs, instance = lifecycle["root"], lifecycle["defs"], lifecycle["instance"]
    day = lifecycle["drifted"][-1]
    result = defs.resolve_job_def(MONITOR).execute_in_process(partition_key=day, instance=instance)
    assert result.success
    champion = registry(root)["champion"]
    con = duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True)
    predicted = con.execute(
        "SELECT session_id, model_version, probability FROM session_predictions "
        "WHERE event_date = ? ORDER BY session_id",
        [day],
    ).df()
    con.close()
    rows = features(root, day, day).sort_values("session_id").reset_index(drop=True)
    assert list(predicted["session_id"]) == list(rows["session_id"])  # one per session, no other
    assert set(predicted["model_version"]) == {champion}
    expected = load_model(root, champion).predict_proba(prepare_features(rows))[:, 1]
    assert np.allclose(predicted["probability"].to_numpy(), expected, rtol=1e-12)


def test_rollback_is_one_command_and_predictions_follow_it(lifecycle):
    root, defs, instance = lifecycle["root"], lifecycle["defs"], lifecycle["instance"]
    env = {**os.environ, "PLATFORM_DATA_DIR": str(root)}
    env.pop("DAGSTER_HOME", None)
    # the test above checks the gate's decision; whatever it was, the operator can put the
    # retrained model in service by hand, and roll it back with one command
    if registry(root)["champion"] != "v0002":
        args = ["models", "promote", "v0002", "--reason", "operator override for the rollback drill"]
        proc = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert registry(root)["champion"] == "v0002"
    args = ["models", "rollback", "--reason", "the new model misbehaves in production"]
    proc = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reg = registry(root)
    target = "v0001"
    last = reg["decisions"][-1]
    assert reg["champion"] == target and (last["action"], last["previous_champion"]) == ("rollback", "v0002")
    assert last["reason"] == "the new model misbehaves in production"
    day = lifecycle["drifted"][0]
    result = defs.resolve_job_def(MONITOR).execute_in_process(partition_key=day, instance=instance)
    assert result.success
    con = duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True)
    versions = con.execute(
        "SELECT DISTINCT model_version FROM session_predictions WHERE event_date = ?", [day]
    ).fetchall()
    con.close()
    assert versions == [(target,)]
