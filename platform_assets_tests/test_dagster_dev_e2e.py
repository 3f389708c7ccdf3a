"""``dagster dev`` serves the whole asset graph on 127.0.0.1 (webserver + daemon, real processes)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from platform_assets_tests.test_defs import EXPECTED_GRAPH

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def dagster_dev(tmp_path):
    port = _free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PLATFORM_DATA_DIR": str(tmp_path / "data")}
    dagster = Path(sys.executable).with_name("dagster")
    process = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: every child is stopped with it
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster dev exited early: {process.stderr.read().decode()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("dagster dev did not answer within 120 s")
                time.sleep(1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_dagster_dev_shows_every_asset_of_the_graph(dagster_dev):
    port = dagster_dev
    deadline = time.monotonic() + 60
    while True:  # the code location loads in the background after the server answers
        status = _graphql(
            port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
        )
        entries = status["data"]["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            break
        assert time.monotonic() < deadline, entries
        time.sleep(1)
    nodes = _graphql(port, "{ assetNodes { assetKey { path } groupName hasAssetChecks description } }")
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes["data"]["assetNodes"]}
    assert set(by_key) == set(EXPECTED_GRAPH)
    assert all(by_key[k]["groupName"] == v["group"] for k, v in EXPECTED_GRAPH.items())
    assert by_key["lake/events"]["hasAssetChecks"] and by_key["models/conversion_model"]["hasAssetChecks"]
    assert all(n["description"] for n in by_key.values())
