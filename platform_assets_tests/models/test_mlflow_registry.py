"""MLflow mirrors real ``train_model`` runs: tracking, versions, aliases, the pyfunc model, drift.

Needs the ``mlflow`` extra: skipped without it, unless ``PLATFORM_TEST_REQUIRE_MLFLOW`` is set
(CI), where a missing mlflow fails.
"""

import json
import os

import duckdb
import numpy as np
import pytest

from platform_assets.cli import main
from platform_assets.layers.models.checks import mlflow_in_step
from platform_assets.lib.ml.model_store import ModelIntegrityError
from platform_assets_tests.checks_support import check_run, evaluations, materialized, values

if os.environ.get("PLATFORM_TEST_REQUIRE_MLFLOW"):
    import mlflow
else:
    mlflow = pytest.importorskip("mlflow")

NAME = "conversion"


def train(copy, **config):
    run_config = {"ops": {"models__conversion_model": {"config": {"min_rows": 100, **config}}}}
    return copy.defs.resolve_job_def("train_model").execute_in_process(
        instance=copy.instance, run_config=run_config, raise_on_error=False
    )


def client_for(copy):
    uri = f"sqlite:///{copy.root.resolve() / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def registry(copy) -> dict:
    return json.loads((copy.layout.models / "registry.json").read_text())


def champion_alias(client) -> str:
    return client.get_model_version_by_alias(NAME, "champion").tags["platform_version"]


@pytest.fixture
def trained(platform_copy, monkeypatch):
    monkeypatch.delenv("PLATFORM_MLFLOW_TRACKING_URI", raising=False)
    result = train(platform_copy)
    assert result.success
    return platform_copy, result


def test_a_training_run_is_an_mlflow_run_with_its_candidates_nested(trained):
    copy, result = trained
    client = client_for(copy)
    card = json.loads((copy.layout.models / "v0001" / "card.json").read_text())
    experiment = client.get_experiment_by_name("conversion_model")
    # the embedded default: SQLite and artifacts under the data directory
    assert experiment.artifact_location == (copy.root.resolve() / "mlflow" / "artifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.tags["dagster_run_id"] == result.run_id
    summary = registry(copy)["versions"][0]
    assert parent.data.tags["training_data_version"] == summary["training_data_version"]
    assert parent.data.metrics["holdout_roc_auc"] == pytest.approx(card["metrics"]["model"]["roc_auc"])
    assert parent.data.metrics["holdout_log_loss"] == pytest.approx(card["metrics"]["model"]["log_loss"])
    candidates = card["extra"]["candidates"]
    assert len(children) == len(candidates) > 1
    by_name = {r.info.run_name: r for r in children}
    for candidate in candidates:
        run = by_name[f"{candidate['family']} #{candidate['index']}"]
        assert run.data.metrics["validation_log_loss"] == pytest.approx(candidate["validation_log_loss"])
        assert run.data.metrics["fit_seconds"] == pytest.approx(candidate["fit_seconds"])
        for key, value in candidate["hyperparams"].items():
            assert run.data.params[key] == (value if isinstance(value, str) else json.dumps(value))
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "evaluation")}
    assert {
        "evaluation/model_card.json",
        "evaluation/calibration.json",
        "evaluation/roc_summary.json",
    } <= artifacts
    version = client.get_model_version(NAME, "1")
    assert version.tags["platform_version"] == "v0001" and version.run_id == parent.info.run_id
    assert champion_alias(client) == "v0001"


def test_the_champion_pyfunc_predicts_what_the_platform_scored_and_refuses_a_tampered_file(trained):
    copy, _ = trained
    day = copy.days[-1]
    result = copy.defs.resolve_job_def("monitor_day").execute_in_process(
        partition_key=day, instance=copy.instance, raise_on_error=False
    )
    assert "predictions/session_predictions" in materialized(result)
    con = duckdb.connect(str(copy.layout.warehouse_db), read_only=True)
    features = con.execute(
        "SELECT * FROM session_features WHERE event_date = CAST(? AS DATE) ORDER BY session_id", [day]
    ).df()
    scored = con.execute(
        "SELECT probability FROM session_predictions WHERE event_date = CAST(? AS DATE) ORDER BY session_id",
        [day],
    ).fetchall()
    con.close()
    client_for(copy)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    predicted = np.asarray(model.predict(features), dtype="float64")
    assert len(predicted) == len(scored) > 50
    np.testing.assert_allclose(predicted, [p for (p,) in scored], rtol=0, atol=1e-12)

    skops = copy.layout.models / "v0001" / "model.skops"
    data = bytearray(skops.read_bytes())
    data[len(data) // 2] ^= 0xFF
    skops.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match its registered sha256"):
        mlflow.pyfunc.load_model(f"models:/{NAME}@champion")


def test_the_champion_alias_follows_cli_promote_and_rollback(trained, monkeypatch, capsys):
    copy, _ = trained
    train(copy, seed=3)  # v0002: promoted or kept out by its gate, registered either way
    assert [v["version"] for v in registry(copy)["versions"]] == ["v0001", "v0002"]
    client = client_for(copy)
    assert client.get_model_version(NAME, "2").tags["platform_version"] == "v0002"
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(copy.root))
    if registry(copy)["champion"] != "v0002":
        assert main(["models", "promote", "v0002", "--reason", "a test", "--force"]) == 0
    assert registry(copy)["champion"] == "v0002" and champion_alias(client) == "v0002"
    assert main(["models", "rollback", "--reason", "back to v0001"]) == 0
    assert registry(copy)["champion"] == "v0001"
    assert champion_alias(client) == "v0001"
    assert client.get_model_version_by_alias(NAME, "challenger").tags["platform_version"] == "v0002"


def test_the_drift_check_names_both_pointers_when_mlflow_disagrees(trained):
    copy, _ = trained
    assert not train(copy).success  # the same model again: kept out by its gate, registered as v0002
    client = client_for(copy)
    with check_run(copy.defs, copy.instance) as run:
        assert mlflow_in_step.evaluate(run, "").passed
        client.set_registered_model_alias(NAME, "champion", "2")  # by hand, behind the platform's back
        moved = mlflow_in_step.evaluate(run, "")
    assert not moved.passed
    assert "conversion@champion points to MLflow version 2 (v0002)" in moved.description
    assert "the platform's champion is v0001" in moved.description
    assert registry(copy)["champion"] == "v0001"  # MLflow is never read back


def test_the_check_passes_in_a_run_that_keeps_mlflow_in_step(trained):
    _, result = trained
    check = evaluations(result)["models/champion:mlflow_in_step"]
    assert check.passed and values(check) == {"mlflow": "in step", "differences": 0}
