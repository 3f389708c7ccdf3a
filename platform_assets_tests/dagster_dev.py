"""A real ``dagster dev`` (webserver + daemon, real processes) for end-to-end tests, and its GraphQL API.

Used by ``test_dagster_dev_e2e.py`` (the UI serves the graph) and ``test_daemon_e2e.py`` (the
sensors and the run queue run the platform on their own).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
QUIET_INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, attempts: int = 3, variables: Mapping | None = None) -> dict:
    """POST a query; a server error (HTTP 5xx) is retried, then raised with the server's answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
        headers={"Content-Type": "application/json"},
    )
    attempt = 1
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt >= attempts:
                body = error.read().decode(errors="replace")[:2000]
                raise GraphQLError(f"HTTP {error.code} for {query[:80]!r}: {body}") from error
        attempt += 1
        time.sleep(1)


class GraphQLError(RuntimeError):
    """The webserver answered a GraphQL request with an HTTP error."""


LAUNCH_MUTATION = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN_QUERY = """query($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { runId status stepStats { stepKey status startTime endTime } } } }"""
RUN_LOGS_QUERY = """query($runId: ID!) { logsForRun(runId: $runId, limit: 1000) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message stepKey } } } } }"""


def launch_job(port: int, job: str, tags: Mapping[str, str], location: str = "platform_assets") -> str:
    """Launch a run of ``job`` (through the run queue, as the UI's Launch button does); its run id."""
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "pipelineName": job,
        },
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    answer = graphql(port, LAUNCH_MUTATION, variables={"params": params})["data"]["launchPipelineExecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]["runId"]


def run_info(port: int, run_id: str) -> dict:
    """``{"runId", "status", "stepStats": [{"stepKey", "status", "startTime", "endTime"}]}``."""
    answer = graphql(port, RUN_QUERY, variables={"runId": run_id})["data"]["runOrError"]
    assert answer["__typename"] == "Run", answer
    return answer


def run_messages(port: int, run_id: str) -> list[str]:
    """The messages of a run's event log, oldest first."""
    answer = graphql(port, RUN_LOGS_QUERY, variables={"runId": run_id})["data"]["logsForRun"]
    return [e.get("message") or "" for e in answer.get("events", [])]


@dataclass(frozen=True)
class DagsterDev:
    port: int
    home: Path  # DAGSTER_HOME
    log: Path  # dagster dev's stderr (webserver, daemon and code server logs)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextmanager
def dagster_dev(
    root: Path, env: Mapping[str, str], instance_yaml: str = QUIET_INSTANCE_YAML, startup_timeout: float = 120
) -> Iterator[DagsterDev]:
    """``dagster dev -w workspace.yaml`` on a free port, DAGSTER_HOME=root/dagster_home.

    Waits until the server answers and the code location is loaded. Every process it started
    (webserver, daemon, code servers and the runs they launched) is stopped on exit, also when
    the test fails: they all share the process group of ``dagster dev``.
    """
    port = free_port()
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml)
    dagster = Path(sys.executable).with_name("dagster")
    argv = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    with serving(
        argv, {**env, "DAGSTER_HOME": str(home)}, REPO, port, root / "dagster_dev.log", startup_timeout
    ):
        yield DagsterDev(port=port, home=home, log=root / "dagster_dev.log")


@contextmanager
def serving(
    argv: list[str], env: Mapping[str, str], cwd: Path, port: int, log: Path, startup_timeout: float = 120
) -> Iterator[DagsterDev]:
    """Run a ``dagster dev`` command line (``argv``, with ``env`` over this process's environment,
    from ``cwd``) that listens on ``port``; yield once its code location is loaded, stop it after."""
    full_env = {**os.environ, **env}
    # stderr goes to a file, not a pipe: a pipe nobody reads fills up and blocks the daemon's logging.
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: every child is stopped with it
        )
    server = DagsterDev(port=port, home=Path(full_env.get("DAGSTER_HOME", "")), log=log)
    try:
        _wait_until_loaded(process, server, startup_timeout)
        yield server
    finally:
        stop_process_group(process)


def _wait_until_loaded(process: subprocess.Popen, server: DagsterDev, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    entries = None
    while True:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited early ({process.returncode}): {server.log_tail()}")
        try:
            # the code location loads in the background after the server answers
            entries = graphql(server.port, query)["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (OSError, GraphQLError):
            pass  # not listening or not serving yet
        if time.monotonic() > deadline:
            pytest.fail(f"dagster dev not loaded within {timeout:.0f} s ({entries}): {server.log_tail()}")
        time.sleep(1)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, then SIGKILL to whatever is left after 30 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    # Whatever is left of the group (a run process outliving its daemon, a hung server) is killed.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


def warehouse_requests_by_day(data_dir: Path) -> dict[str, int]:
    """``daily_traffic`` requests per day; {} while the table is missing or a run holds the write lock."""
    database = data_dir / "warehouse" / "warehouse.duckdb"
    if not database.exists():
        return {}
    try:
        # short-lived and read-only: a writing step that finds this lock retries (engine backoff)
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.execute(
                "SELECT CAST(event_date AS VARCHAR), CAST(sum(requests) AS BIGINT) "
                "FROM daily_traffic GROUP BY 1"
            ).fetchall()
    except (duckdb.IOException, duckdb.CatalogException):
        return {}
    return dict(rows)
