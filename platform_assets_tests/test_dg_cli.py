"""Dagster's current CLI, ``dg``, works beside ``dagster`` on the project ([tool.dg] in pyproject)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]


def test_dg_check_defs_loads_the_platform(tmp_path):
    env = {**os.environ, "PLATFORM_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path)}
    dg = Path(sys.executable).parent / "dg"
    proc = subprocess.run(
        [str(dg), "check", "defs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr
