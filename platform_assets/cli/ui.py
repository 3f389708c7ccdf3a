"""``platform-assets ui``: the Dagster UI and the monitoring reports of one data directory, together.

Runs ``dagster dev`` (webserver and daemon) on the platform's code location with the instance every
command uses (``DAGSTER_HOME``, else ``<data dir>/dagster_home``), and serves the reports where the
UI's links point (``PLATFORM_REPORTS_URL``) from a thread of this process; both bind 127.0.0.1
unless told otherwise, and Ctrl-C (or SIGTERM, SIGHUP) stops both. Dagster says on every start
that ``dagster dev`` is superseded by ``dg dev``, which needs a project checkout this command does
not: that one notice is filtered (by its exact text), every other warning shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from platform_assets.cli.instance import instance_home
from platform_assets.cli.reports import default_port, make_server
from platform_assets.cli.runs import CODE_LOCATION
from platform_assets.lib.layout import DataLayout

# `python -W action:message:category`: the message is matched from its start; SupersessionWarning
# is a FutureWarning, the only category -W can name before dagster is imported.
DEV_SUPERSEDED_FILTER = "ignore:Function `dev_command` is superseded:FutureWarning"


def dagster_dev_argv(host: str, port: int) -> list[str]:
    """``dagster dev`` on the platform's code location, run by this Python."""
    return [
        sys.executable,
        "-W",
        DEV_SUPERSEDED_FILTER,
        "-m",
        "dagster",
        "dev",
        "-m",
        CODE_LOCATION,
        "--host",
        host,
        "--port",
        str(port),
    ]


def run_ui(data_dir: Path, reports_url: str, host: str, port: int) -> int:
    """Serve the reports on a thread and run ``dagster dev`` until it stops; its exit code."""
    data_dir = data_dir.resolve()
    home = instance_home(data_dir)  # dagster dev opens the instance; here only its dagster.yaml
    reports = DataLayout(data_dir).ensure().reports
    reports_port = default_port(reports_url)
    server = make_server(reports, host, reports_port, reports_url)
    threading.Thread(target=server.serve_forever, name="reports", daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    print(
        f"Dagster UI: http://{shown}:{port}  (data {data_dir}, instance {home})\n"
        f"reports:    http://{shown}:{reports_port}/  (the UI's report links)\n"
        "Ctrl-C stops both.",
        flush=True,
    )
    env = {**os.environ, "PLATFORM_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    dagster = subprocess.Popen(dagster_dev_argv(host, port), env=env)

    def stop(_signum: int, _frame: object) -> None:
        # SIGTERM or a closed terminal: dagster dev gets the SIGINT Ctrl-C would have given it,
        # rather than outliving this process (with its webserver and daemon still on the port)
        dagster.send_signal(signal.SIGINT)
        raise KeyboardInterrupt

    for stopping in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stopping, stop)
    try:
        return dagster.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to dagster dev too: let it shut down
        try:
            return dagster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dagster.terminate()
            return dagster.wait()
    finally:
        server.shutdown()
        server.server_close()
