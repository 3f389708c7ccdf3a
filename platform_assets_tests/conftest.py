"""Shared fixtures: a temporary PLATFORM_DATA_DIR, its layout, engine and definitions."""

import os
from pathlib import Path

import pytest

from platform_assets.definitions import build_definitions
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib.layout import DataLayout
from platform_assets.settings import PlatformSettings

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

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
def real_apache_log() -> Path:
    if not REAL_APACHE_LOG.exists():
        pytest.fail(f"real log fixture missing: {REAL_APACHE_LOG}")
    return REAL_APACHE_LOG
