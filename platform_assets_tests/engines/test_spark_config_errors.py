"""A Spark setting that cannot work fails before a JVM starts, with a message naming the setting.

No test here starts Spark: validation runs first, so none of them needs the ``spark`` marker.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.engines.resource import PlatformEngine
from platform_assets.engines.spark import SparkConfigError, SparkEngine
from platform_assets.resources import build_engine
from platform_assets.settings import load_settings


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spark(data_dir: Path, **env: str) -> SparkEngine:
    """The Spark engine the platform builds from these PLATFORM_* settings."""
    return build_engine(load_settings({"PLATFORM_DATA_DIR": str(data_dir), **env})).spark


@pytest.fixture
def lake_dir(layout) -> Path:
    """A data dir whose lake exists (the last thing validation checks)."""
    layout.lake.mkdir(parents=True, exist_ok=True)
    return layout.root


def test_a_valid_local_configuration_passes(lake_dir):
    engine = _spark(lake_dir, PLATFORM_SPARK_MASTER="local[2]", PLATFORM_SPARK_DRIVER_MEMORY="512m")
    engine.validate()  # raises SparkConfigError when a setting is wrong
    config = engine.spark_config()
    assert (config["spark.master"], config["spark.driver.memory"]) == ("local[2]", "512m")
    assert not engine.started  # checking the settings starts no JVM


@pytest.mark.parametrize(
    "master",
    [
        "spark:/oops",
        "local[0]",
        "mesos://x",
        "spark://127.0.0.1",
        "local[two]",
        "yarn-cluster",
        "k8s://host:443",
    ],
)
def test_a_malformed_master_url_names_PLATFORM_SPARK_MASTER(lake_dir, master):
    engine = _spark(lake_dir, PLATFORM_SPARK_MASTER=master)
    with pytest.raises(SparkConfigError, match=rf"^PLATFORM_SPARK_MASTER={re.escape(repr(master))}"):
        engine.validate()


def test_a_bad_master_fails_in_session_before_any_jvm_starts(lake_dir):
    engine = _spark(lake_dir, PLATFORM_SPARK_MASTER="mesos://x")
    with pytest.raises(SparkConfigError, match="PLATFORM_SPARK_MASTER"):
        engine.session()
    assert not engine.started


def test_an_unreachable_standalone_master_names_PLATFORM_SPARK_MASTER(lake_dir):
    port = _free_port()
    engine = _spark(lake_dir, PLATFORM_SPARK_MASTER=f"spark://127.0.0.1:{port}")
    with pytest.raises(SparkConfigError) as raised:
        engine.validate()
    message = str(raised.value)
    assert f"cannot reach the Spark master at spark://127.0.0.1:{port}" in message
    assert "(PLATFORM_SPARK_MASTER)" in message
    assert "refused" in message.lower()


def test_one_unreachable_master_of_a_high_availability_list_is_named(lake_dir):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up = listening.getsockname()[1]
        down = _free_port()
        engine = _spark(lake_dir, PLATFORM_SPARK_MASTER=f"spark://127.0.0.1:{up},127.0.0.1:{down}")
        with pytest.raises(SparkConfigError, match=rf"spark://127\.0\.0\.1:{down} \(PLATFORM_SPARK_MASTER\)"):
            engine.validate()


def test_no_java_on_path_and_no_JAVA_HOME_is_named(lake_dir, tmp_path, monkeypatch):
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkConfigError) as raised:
        _spark(lake_dir, PLATFORM_SPARK_MASTER="local[1]").validate()
    message = str(raised.value)
    assert "no `java` on PATH and JAVA_HOME is not set" in message
    assert "PLATFORM_ENGINE=duckdb" in message


def test_a_JAVA_HOME_without_bin_java_is_named(lake_dir, tmp_path, monkeypatch):
    home = tmp_path / "not_a_jdk"
    (home / "bin").mkdir(parents=True)
    monkeypatch.setenv("JAVA_HOME", str(home))  # java on PATH does not rescue a wrong JAVA_HOME
    with pytest.raises(SparkConfigError, match=rf"JAVA_HOME={re.escape(repr(str(home)))} has no bin/java"):
        _spark(lake_dir).validate()


def test_a_missing_local_lake_names_PLATFORM_SPARK_LAKE_URI(layout, tmp_path):
    missing = tmp_path / "no" / "lake"
    engine = _spark(layout.root, PLATFORM_SPARK_MASTER="local[1]", PLATFORM_SPARK_LAKE_URI=str(missing))
    with pytest.raises(
        SparkConfigError, match=rf"^PLATFORM_SPARK_LAKE_URI: the lake path '{re.escape(str(missing))}'"
    ):
        engine.validate()


def test_the_default_lake_under_the_data_dir_is_checked_too(tmp_path):
    engine = _spark(tmp_path / "fresh", PLATFORM_SPARK_MASTER="local[1]")
    with pytest.raises(SparkConfigError, match="PLATFORM_SPARK_LAKE_URI"):
        engine.validate()


def test_a_remote_lake_uri_is_not_checked_locally(layout):
    _spark(
        layout.root, PLATFORM_SPARK_MASTER="local[1]", PLATFORM_SPARK_LAKE_URI="s3a://bucket/lake"
    ).validate()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PLATFORM_SPARK_DRIVER_MEMORY", "2 GB"),
        ("PLATFORM_SPARK_DRIVER_MEMORY", "lots"),
        ("PLATFORM_SPARK_DRIVER_MEMORY", "0g"),
        ("PLATFORM_SPARK_EXECUTOR_MEMORY", "1.5g"),
        ("PLATFORM_SPARK_EXECUTOR_MEMORY", "-1g"),
        ("PLATFORM_SPARK_EXECUTOR_MEMORY", ""),
    ],
)
def test_a_bad_memory_size_names_its_setting(lake_dir, setting, value):
    engine = _spark(lake_dir, PLATFORM_SPARK_MASTER="local[1]", **{setting: value})
    with pytest.raises(SparkConfigError, match=rf"^{setting}={re.escape(repr(value))}: expected a size"):
        engine.validate()


@pytest.mark.parametrize("value", ["spark.executor.cores", "executor.cores=2", "spark.a=1,,oops", "=2"])
def test_a_bad_PLATFORM_SPARK_CONF_is_refused_when_settings_load(value):
    with pytest.raises(ValueError, match=r"^PLATFORM_SPARK_CONF: .* is not spark\.KEY=VALUE"):
        load_settings({"PLATFORM_SPARK_CONF": value})


def test_PLATFORM_SPARK_CONF_entries_reach_the_session_config(tmp_path):
    engine = _spark(tmp_path, PLATFORM_SPARK_CONF="spark.executor.cores=1, spark.ui.enabled=true")
    config = engine.spark_config()
    assert config["spark.executor.cores"] == "1"
    assert config["spark.ui.enabled"] == "true"  # conf wins over the engine's defaults


@pytest.mark.parametrize("value", ["0", "-2", "four", "2.5", " "])
def test_a_bad_PLATFORM_SPARK_SHUFFLE_PARTITIONS_is_refused(value):
    with pytest.raises(
        ValueError, match=r"^PLATFORM_SPARK_SHUFFLE_PARTITIONS=.*expected a whole number >= 1"
    ):
        load_settings({"PLATFORM_SPARK_SHUFFLE_PARTITIONS": value})


def test_shuffle_partitions_below_one_are_refused_by_the_engine_too(lake_dir):
    engine = SparkEngine(
        data_dir=str(lake_dir),
        warehouse=DuckDBEngine(data_dir=str(lake_dir)),
        master="local[1]",
        shuffle_partitions=0,
    )
    with pytest.raises(SparkConfigError, match=r"^PLATFORM_SPARK_SHUFFLE_PARTITIONS=0"):
        engine.validate()


@pytest.mark.parametrize("value", ["sparkk", "pandas", "duck db"])
def test_a_bad_PLATFORM_ENGINE_is_refused(value):
    with pytest.raises(ValueError, match=r"^PLATFORM_ENGINE=.*expected one of duckdb, spark, auto"):
        load_settings({"PLATFORM_ENGINE": value})


def test_PLATFORM_ENGINE_is_case_and_space_tolerant():
    assert load_settings({"PLATFORM_ENGINE": " Spark "}).engine == "spark"


def test_a_bad_engine_kind_from_run_config_names_both_places(tmp_path):
    engine = build_engine(load_settings({"PLATFORM_DATA_DIR": str(tmp_path)}))
    bad = PlatformEngine(kind="sparky", duckdb=engine.duckdb, spark=engine.spark)
    with pytest.raises(ValueError, match=r"PLATFORM_ENGINE or run config resources\.engine\.config\.kind"):
        bad.choose(0)


def test_a_spark_run_against_an_unreachable_master_fails_with_the_setting_in_the_run_failure(layout):
    port = _free_port()
    settings = load_settings(
        {
            "PLATFORM_DATA_DIR": str(layout.root),
            "PLATFORM_ENGINE": "spark",
            "PLATFORM_SPARK_MASTER": f"spark://127.0.0.1:{port}",
        }
    )
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("build_day").execute_in_process(
            partition_key="2026-03-01", instance=instance, raise_on_error=False
        )
    assert not result.success
    failures = [
        event.event_specific_data.error
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_FAILURE
    ]
    assert failures, "a step failed"
    # Dagster wraps the asset's exception (DagsterExecutionStepExecutionError); the cause is ours
    causes = [error.cause for error in failures]
    assert all(cause is not None and cause.cls_name == "SparkConfigError" for cause in causes), failures
    messages = [cause.message for cause in causes]
    assert all(f"cannot reach the Spark master at spark://127.0.0.1:{port}" in m for m in messages), messages
    assert all("(PLATFORM_SPARK_MASTER)" in m for m in messages)
    # the run's failure says so, not a Java stack trace
    assert all("Py4J" not in m and "java." not in m for m in messages)
    assert not result.get_asset_materialization_events()


def test_the_same_failure_raises_from_materialize_when_asked_to(layout):
    port = _free_port()
    settings = load_settings(
        {
            "PLATFORM_DATA_DIR": str(layout.root),
            "PLATFORM_ENGINE": "spark",
            "PLATFORM_SPARK_MASTER": f"spark://127.0.0.1:{port}",
        }
    )
    defs = build_definitions(settings)
    marts = [
        a
        for a in defs.assets
        if getattr(a, "group_names_by_key", None) and "warehouse" in a.group_names_by_key.values()
    ]
    assert marts
    # raised with retries refused (dg.Failure): a retry cannot start a cluster that is not there
    failure = pytest.raises(dg.Failure, match=r"SparkConfigError: .*PLATFORM_SPARK_MASTER")
    with dg.instance_for_test() as instance, failure:
        dg.materialize(marts, resources=defs.resources, partition_key="2026-03-01", instance=instance)
