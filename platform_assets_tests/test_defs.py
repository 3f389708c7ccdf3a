"""Snapshot of the resolved asset graph: a lineage change must change this file too."""

import dagster as dg
import pytest
from dagster._core.definitions.dependency import NodeHandle

from platform_assets.definitions import build_definitions
from platform_assets.settings import PlatformSettings

EXPECTED_GRAPH = {
    "raw/log_files": {"group": "raw", "partitions": "log_files", "deps": []},
    "lake/events": {"group": "lake", "partitions": "log_files", "deps": ["raw/log_files"]},
    "lake/quarantine": {"group": "lake", "partitions": "log_files", "deps": ["raw/log_files"]},
    "warehouse/daily_traffic": {"group": "warehouse", "partitions": "daily", "deps": ["lake/events"]},
    "warehouse/sessions": {"group": "warehouse", "partitions": "daily", "deps": ["lake/events"]},
    "warehouse/user_activity": {"group": "warehouse", "partitions": "daily", "deps": ["lake/events"]},
    "warehouse/funnel": {"group": "warehouse", "partitions": "daily", "deps": ["lake/events"]},
    "features/session_features": {
        "group": "features",
        "partitions": "daily",
        "deps": ["lake/events", "warehouse/sessions"],
    },
    "features/visitor_history": {
        "group": "features",
        "partitions": "daily",
        "deps": ["lake/events", "warehouse/sessions"],
    },
    "models/conversion_model": {"group": "models", "partitions": None, "deps": ["features/session_features"]},
    "models/champion": {"group": "models", "partitions": None, "deps": ["models/conversion_model"]},
    "predictions/session_predictions": {
        "group": "predictions",
        "partitions": "daily",
        "deps": ["features/session_features", "models/champion"],
    },
    "monitoring/feature_drift": {
        "group": "monitoring",
        "partitions": "daily",
        "deps": ["features/session_features", "models/champion"],
    },
    "monitoring/model_performance": {
        "group": "monitoring",
        "partitions": "daily",
        "deps": ["predictions/session_predictions", "features/session_features", "models/champion"],
    },
    "experiments/deployment": {"group": "experiments", "partitions": None, "deps": ["models/champion"]},
    "experiments/decisions": {"group": "experiments", "partitions": "log_files", "deps": ["raw/log_files"]},
    "experiments/decision_quarantine": {
        "group": "experiments",
        "partitions": "log_files",
        "deps": ["raw/log_files"],
    },
    "experiments/ab_results": {
        "group": "experiments",
        "partitions": "daily",
        "deps": ["experiments/decisions", "experiments/deployment", "features/session_features"],
    },
}
EXPECTED_CHECKS = {
    ("raw/log_files", "readable_and_hashed"),
    ("lake/events", "lines_reconcile"),
    ("lake/events", "quarantine_share"),
    ("lake/events", "schema_as_documented"),
    ("lake/events", "no_duplicate_events"),
    ("lake/events", "timestamps_in_partition_day"),
    ("lake/events", "no_future_timestamps"),
    ("lake/quarantine", "rows_account_for_lines"),
    *(
        (f"warehouse/{mart}", "keys_not_null_and_unique")
        for mart in ("daily_traffic", "sessions", "user_activity", "funnel")
    ),
    *((f"warehouse/{mart}", "rates_within_0_1") for mart in ("daily_traffic", "funnel")),
    *(
        (f"warehouse/{mart}", "reconciles_with_lake")
        for mart in ("daily_traffic", "sessions", "user_activity")
    ),
    ("warehouse/funnel", "steps_non_increasing"),
    ("warehouse/daily_traffic", "hourly_5xx_share"),
    ("features/session_features", "keys_not_null_and_unique"),
    ("features/session_features", "no_label_leakage"),
    ("features/session_features", "class_balance"),
    ("features/session_features", "no_constant_columns"),
    ("features/visitor_history", "one_row_per_whole_session"),
    ("models/conversion_model", "beats_baseline"),
    ("models/conversion_model", "metric_floor"),
    ("models/conversion_model", "beats_champion"),
    ("models/champion", "files_match_registry"),
    ("models/champion", "mlflow_in_step"),
    ("predictions/session_predictions", "one_per_session"),
    ("predictions/session_predictions", "valid_probabilities"),
    ("monitoring/feature_drift", "report_well_formed"),
    ("monitoring/model_performance", "report_well_formed"),
    ("experiments/deployment", "versions_intact"),
    ("experiments/decisions", "lines_reconcile"),
    ("experiments/decision_quarantine", "quarantine_share"),
    ("experiments/ab_results", "one_row_per_arm"),
}
# Checks that stop what is downstream when they fail with ERROR; the others are advisory (WARN).
ADVISORY_CHECKS = {
    ("lake/events", "no_future_timestamps"),
    ("warehouse/daily_traffic", "hourly_5xx_share"),
    ("features/session_features", "class_balance"),
    ("features/session_features", "no_constant_columns"),
    ("experiments/decision_quarantine", "quarantine_share"),
    ("models/champion", "mlflow_in_step"),
}


def _partitions_name(spec_partitions) -> str | None:
    if spec_partitions is None:
        return None
    if isinstance(spec_partitions, dg.DynamicPartitionsDefinition):
        return spec_partitions.name
    return "daily" if isinstance(spec_partitions, dg.DailyPartitionsDefinition) else repr(spec_partitions)


def test_asset_graph_matches_the_snapshot(tmp_path):
    defs = build_definitions(PlatformSettings(data_dir=tmp_path))
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        actual[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions_name(node.partitions_def),
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
        }
    assert actual == {k: {**v, "deps": sorted(v["deps"])} for k, v in EXPECTED_GRAPH.items()}
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert checks == EXPECTED_CHECKS


def test_every_asset_has_a_described_check_and_only_advisory_ones_do_not_block(tmp_path):
    defs = build_definitions(PlatformSettings(data_dir=tmp_path))
    specs = [spec for checks_def in defs.asset_checks or [] for spec in checks_def.check_specs]
    specs += [spec for assets_def in defs.assets or [] for spec in getattr(assets_def, "check_specs", [])]
    assert {spec.asset_key.to_user_string() for spec in specs} == set(EXPECTED_GRAPH)
    for spec in specs:
        name = (spec.asset_key.to_user_string(), spec.name)
        assert spec.description and len(spec.description) > 40, name
        assert spec.blocking is (name not in ADVISORY_CHECKS), name


def test_every_asset_has_a_description_kinds_and_an_owner(tmp_path):
    defs = build_definitions(PlatformSettings(data_dir=tmp_path))
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert spec.description and len(spec.description) > 20, name
        assert spec.kinds, name
        assert spec.owners, name
        assert spec.key.path[0] == spec.group_name, name


@pytest.mark.parametrize(
    ("engine", "lake", "mart", "model"),
    [
        ("duckdb", {"parquet", "duckdb"}, {"duckdb", "sql"}, {"scikit-learn", "skops"}),
        ("spark", {"parquet", "spark"}, {"spark", "sql"}, {"scikit-learn", "spark", "skops"}),
        (
            "auto",
            {"parquet", "duckdb", "spark"},
            {"duckdb", "spark", "sql"},
            {"scikit-learn", "spark", "skops"},
        ),
    ],
)
def test_kinds_name_the_configured_engine(tmp_path, engine, lake, mart, model):
    """No "spark" kind on assets that run on DuckDB: the kinds follow PLATFORM_ENGINE."""
    defs = build_definitions(PlatformSettings(data_dir=tmp_path, engine=engine))
    kinds = {spec.key.to_user_string(): spec.kinds for spec in defs.resolve_all_asset_specs()}
    assert kinds["lake/events"] == kinds["lake/quarantine"] == lake
    assert kinds["warehouse/daily_traffic"] == kinds["features/session_features"] == mart
    assert kinds["models/conversion_model"] == model
    assert kinds["predictions/session_predictions"] == {"scikit-learn", "duckdb"}  # always DuckDB


def test_the_daily_assets_share_one_partitions_definition_from_the_configured_start(tmp_path):
    """Not 2015: every daily asset (multi-assets included) starts at PLATFORM_PARTITIONS_START."""
    defs = build_definitions(PlatformSettings(data_dir=tmp_path, partitions_start="2026-10-01"))
    graph = defs.resolve_asset_graph()
    daily = {k for k, v in EXPECTED_GRAPH.items() if v["partitions"] == "daily"}
    partitions = {graph.get(dg.AssetKey.from_user_string(key)).partitions_def for key in daily}
    assert partitions == {dg.DailyPartitionsDefinition("2026-10-01", end_offset=1, timezone="UTC")}


def test_definitions_load_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PLATFORM_PARTITIONS_START", "2026-09-01")
    from platform_assets import definitions

    loaded = definitions.defs()
    resources = loaded.resources
    assert resources["engine"].duckdb.data_dir == str((tmp_path / "d").resolve())
    assert resources["engine"].spark.data_dir == str((tmp_path / "d").resolve())
    assert resources["storage"].data_dir == str((tmp_path / "d").resolve())
    days = loaded.resolve_job_def("build_day").partitions_def
    assert days.get_first_partition_key() == "2026-09-01"


def test_steps_that_fail_transiently_carry_the_platform_retry_policy(tmp_path):
    """Warehouse writers (lock, disk) and Spark-capable layers retry; the rest fail at once."""
    from platform_assets.layers.common.sql_assets import TRANSIENT_RETRY_POLICY

    defs = build_definitions(PlatformSettings(data_dir=tmp_path))
    policies = {a.op.name: a.op.retry_policy for a in defs.assets}
    retried = {
        "warehouse_tables",
        "features_tables",
        "predictions__session_predictions",
        "experiments__ab_results",
        "features__visitor_history",
    }
    assert {name for name, policy in policies.items() if policy} == retried
    assert all(policies[name] == TRANSIENT_RETRY_POLICY for name in retried)
    assert TRANSIENT_RETRY_POLICY.backoff == dg.Backoff.EXPONENTIAL
    assert TRANSIENT_RETRY_POLICY.max_retries == 2
    # the job a sensor launches and the CLI's implicit job both see it
    build_day = defs.resolve_job_def("build_day")
    implicit = defs.resolve_implicit_global_asset_job_def()
    for job, op in ((build_day, "warehouse_tables"), (implicit, "features_tables")):
        assert job.get_retry_policy_for_handle(NodeHandle(op, None)) == TRANSIENT_RETRY_POLICY
