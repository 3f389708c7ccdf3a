"""MLflow is optional: without the extra, with a dead tracking server or turned off, training and
promotion succeed and say once, clearly, that the mirror was skipped."""

import json
import logging
import os
import socket
import sys
import time

import pytest

from platform_assets.settings import MlflowSettings, load_settings


def train(copy):
    run_config = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}
    return copy.defs.resolve_job_def("train_model").execute_in_process(
        instance=copy.instance, run_config=run_config, raise_on_error=False
    )


def mlflow_metadata(result) -> dict[str, str]:
    return {
        e.asset_key.to_user_string(): e.materialization.metadata["mlflow"].value
        for e in result.get_asset_materialization_events()
    }


def mlflow_warnings(copy, result) -> list[tuple[str, str]]:
    """(step, message) of every warning the run logged about MLflow."""
    return [
        (e.step_key, e.user_message)
        for e in copy.instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "mlflow" in e.user_message
    ]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def test_without_the_extra_training_and_promotion_succeed_and_the_run_warns_once(platform_copy, monkeypatch):
    monkeypatch.delenv("PLATFORM_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    result = train(platform_copy)
    assert result.success
    expected = "skipped (the mlflow extra is not installed (pip install -e '.[mlflow]'))"
    assert mlflow_metadata(result) == {"models/conversion_model": expected, "models/champion": expected}
    [(step, message)] = mlflow_warnings(platform_copy, result)  # the champion step says it as info
    assert step == "models__conversion_model"
    assert message.startswith("mlflow: skipped (the mlflow extra is not installed")
    said = [
        e.step_key
        for e in platform_copy.instance.all_logs(result.run_id)
        if "mlflow: skipped" in e.user_message
    ]
    assert sorted(said) == ["models__champion", "models__conversion_model"]
    assert not (platform_copy.root / "mlflow").exists()


def test_an_unreachable_tracking_server_is_skipped_within_seconds(platform_copy, monkeypatch):
    if not os.environ.get("PLATFORM_TEST_REQUIRE_MLFLOW"):
        pytest.importorskip("mlflow")
    port = closed_port()
    monkeypatch.setenv("PLATFORM_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = train(platform_copy)
    assert result.success
    metadata = mlflow_metadata(result)
    for asset in ("models/conversion_model", "models/champion"):
        assert metadata[asset].startswith(
            f"skipped (the tracking server http://127.0.0.1:{port} does not answer"
        )
    assert len(mlflow_warnings(platform_copy, result)) == 1
    assert time.monotonic() - started < 60  # the whole run; MLflow's default retries would take minutes
    assert json.loads((platform_copy.layout.models / "registry.json").read_text())["champion"] == "v0001"


def test_off_turns_the_mirror_off_without_a_warning(platform_copy, monkeypatch):
    monkeypatch.setenv("PLATFORM_MLFLOW_TRACKING_URI", "off")
    result = train(platform_copy)
    assert result.success
    assert set(mlflow_metadata(result).values()) == {"off (PLATFORM_MLFLOW_TRACKING_URI=off)"}
    assert mlflow_warnings(platform_copy, result) == []
    assert not (platform_copy.root / "mlflow").exists()


def test_the_default_store_is_sqlite_and_files_under_the_data_directory(tmp_path):
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path)})
    uri, artifacts = settings.mlflow.locations(settings.data_dir)
    assert uri == "sqlite:///" + str(tmp_path.resolve()) + "/mlflow/mlflow.db"
    assert artifacts == "file://" + str(tmp_path.resolve()) + "/mlflow/artifacts"
    explicit = load_settings(
        {"PLATFORM_DATA_DIR": str(tmp_path), "PLATFORM_MLFLOW_TRACKING_URI": "http://h:5000"}
    )
    assert explicit.mlflow.locations(tmp_path) == ("http://h:5000", None)
    assert not load_settings({"PLATFORM_MLFLOW_TRACKING_URI": "off"}).mlflow.enabled


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLATFORM_MLFLOW_TRACKING_URI", "ftp://host/x"),
        ("PLATFORM_MLFLOW_TRACKING_URI", "/a/plain/path"),
        ("PLATFORM_MLFLOW_REGISTERED_MODEL", "conv'; DROP"),
        ("PLATFORM_MLFLOW_EXPERIMENT", "../up"),
    ],
)
def test_bad_mlflow_settings_are_refused_naming_their_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        load_settings({variable: value})
    assert MlflowSettings().registered_model == "conversion"
