"""``platform-assets ui`` stops everything it started when it is told to stop (SIGTERM, as a
service manager or ``kill`` sends it), not only on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from platform_assets_tests.dagster_dev import DagsterDev, _wait_until_loaded, free_port

pytestmark = pytest.mark.e2e


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_dagster_dev_and_the_report_server(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    data_dir.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "PLATFORM_DATA_DIR": str(data_dir),
        "PLATFORM_REPORTS_URL": f"http://127.0.0.1:{free_port()}",
    }
    log = tmp_path / "ui.log"
    command = [str(Path(sys.executable).with_name("platform-assets")), "ui", "--port", str(port)]
    with open(log, "wb") as out:
        ui = subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        _wait_until_loaded(ui, DagsterDev(port=port, home=data_dir / "dagster_home", log=log), 120)
        ui.send_signal(signal.SIGTERM)  # to platform-assets alone, not to its process group
        assert ui.wait(timeout=60) is not None
        deadline = time.monotonic() + 30
        while _group_alive(ui.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _group_alive(ui.pid), "dagster dev outlived platform-assets ui"
    finally:
        with suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)
