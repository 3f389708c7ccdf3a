"""Shared fixtures: a temporary PLATFORM_DATA_DIR, its layout, engine, definitions and Dagster instance."""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib.layout import DataLayout
from platform_assets.settings import PlatformSettings

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

# Test lanes. `spark` and `e2e` are marked by hand; the rest is sorted here: a test that runs
# Dagster in-process (materializes, evaluates a sensor, builds definitions) is `integration`,
# everything else is `unit` (pure: the lane to run before every commit, `pytest -m unit`).
_DAGSTER_FIXTURES = {"defs", "built_platform", "platform_copy", "instance"}
_RUNS_DAGSTER = re.compile(
    r"instance_for_test|materialize\(|build_sensor_context|build_definitions|DagsterInstance"
)


def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test `unit` or `integration` (see above) unless it is `spark` or `e2e`."""
    module_runs_dagster: dict[str, bool] = {}
    for item in items:
        if item.get_closest_marker("spark") or item.get_closest_marker("e2e"):
            continue
        path = str(item.path)
        if path not in module_runs_dagster:
            module_runs_dagster[path] = bool(_RUNS_DAGSTER.search(Path(path).read_text()))
        dagster = module_runs_dagster[path] or bool(_DAGSTER_FIXTURES & set(item.fixturenames))
        item.add_marker(pytest.mark.integration if dagster else pytest.mark.unit)


# A real server log (provenance and counted facts in fixtures/README.md).
REAL_APACHE_LOG = Path(__file__).resolve().parent / "fixtures" / "apache_combined_elastic_2015.log"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "platform"


@pytest.fixture
def layout(data_dir: Path) -> DataLayout:
    return DataLayout(data_dir).ensure()


@pytest.fixture
def settings(data_dir: Path) -> PlatformSettings:
    return PlatformSettings(data_dir=data_dir)


@pytest.fixture
def engine(layout: DataLayout) -> DuckDBEngine:
    return DuckDBEngine(data_dir=str(layout.root), memory_limit="1GB", threads=2)


@pytest.fixture
def defs(settings: PlatformSettings, layout: DataLayout):
    return build_definitions(settings)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A throwaway Dagster instance (runs, events, cursors) for one test."""
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def real_apache_log() -> Path:
    if not REAL_APACHE_LOG.exists():
        pytest.fail(f"real log fixture missing: {REAL_APACHE_LOG}")
    return REAL_APACHE_LOG


@dataclass(frozen=True)
class BuiltPlatform:
    """Generated days ingested and built through Dagster, with every check; shared, do not modify
    (copy ``root`` to experiment on it)."""

    root: Path
    layout: DataLayout
    defs: object
    instance: object
    days: list[str]
    files: list
    ingests: list
    build: object


@pytest.fixture(scope="session")
def built_platform(tmp_path_factory) -> Iterator[BuiltPlatform]:
    """Four clean generated days (1 200 events each): each file ingested, then the days built in
    one backfill run (marts, features and their checks)."""
    from platform_assets.lib.log_generator import generate_logs
    from platform_assets_tests.checks_support import build_days, days, ingest

    root = tmp_path_factory.mktemp("built") / "platform"
    layout = DataLayout(root).ensure()
    defs = build_definitions(PlatformSettings(data_dir=root))
    files = generate_logs(layout.landing, "2026-03-01", 4, 1_200, seed=5, malformed_rate=0.0)
    with dg.instance_for_test() as instance:
        ingests = [ingest(defs, instance, key) for key in layout.landed_keys()]
        built = days("2026-03-01", 4)
        build = build_days(defs, instance, built[0], built[-1])
        yield BuiltPlatform(root, layout, defs, instance, built, files, ingests, build)


@dataclass(frozen=True)
class PlatformCopy:
    """A private copy of ``built_platform``'s data with its own Dagster instance (models,
    predictions and reports written here are nobody else's)."""

    root: Path
    layout: DataLayout
    defs: object
    instance: object
    days: list[str]


@pytest.fixture
def platform_copy(built_platform: BuiltPlatform, tmp_path: Path) -> Iterator[PlatformCopy]:
    import shutil

    root = tmp_path / "platform"
    shutil.copytree(built_platform.root, root)
    layout = DataLayout(root).ensure()
    with dg.instance_for_test() as instance:
        yield PlatformCopy(
            root, layout, build_definitions(PlatformSettings(data_dir=root)), instance, built_platform.days
        )
