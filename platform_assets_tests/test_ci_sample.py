"""``.ci/materialize_sample`` (run by ``.ci/run``) fails when a blocking asset check fails."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]


def test_a_blocking_check_failure_fails_the_ci_sample():
    env = {**os.environ, "BIN": str(Path(sys.executable).parent), "SAMPLE_MALFORMED_RATE": "0.9"}
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "materialize_sample")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "quarantine_share" in output  # the check that stopped it is named
    assert "== marts and features" not in output  # nothing downstream was attempted
    assert "every blocking check passed" not in output
