"""Snapshot of the resolved asset graph: a lineage change must change this file too."""

import dagster as dg

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
    "features/session_features": {"group": "features", "partitions": "daily", "deps": ["warehouse/sessions"]},
    "models/conversion_model": {"group": "models", "partitions": None, "deps": ["features/session_features"]},
    "monitoring/feature_drift": {
        "group": "monitoring",
        "partitions": "daily",
        "deps": ["features/session_features", "models/conversion_model"],
    },
}
EXPECTED_CHECKS = {("lake/events", "lines_reconcile"), ("models/conversion_model", "beats_baseline")}


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


def test_every_asset_has_a_description_kinds_and_an_owner(tmp_path):
    defs = build_definitions(PlatformSettings(data_dir=tmp_path))
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert spec.description and len(spec.description) > 20, name
        assert spec.kinds, name
        assert spec.owners, name
        assert spec.key.path[0] == spec.group_name, name


def test_definitions_load_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "d"))
    from platform_assets import definitions

    loaded = definitions.defs()
    resources = loaded.resources
    assert resources["engine"].data_dir == str((tmp_path / "d").resolve())
    assert resources["storage"].data_dir == str((tmp_path / "d").resolve())
