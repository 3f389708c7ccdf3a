"""A Spark standalone cluster for tests: one master and one worker on 127.0.0.1, from the installed pyspark.

Use the ``spark_cluster`` fixture (module scope) from a test module::

    from platform_assets_tests.spark_cluster import spark_cluster  # noqa: F401  (the fixture)

    @pytest.mark.spark
    def test_x(spark_cluster):
        master = spark_cluster.master_url  # spark://127.0.0.1:PORT

The master and the worker run ``$SPARK_HOME/bin/spark-class`` with SPARK_HOME = the pyspark
package directory, on free ports, each in its own process group; the fixture waits (bounded)
until the worker has registered with the master (its web UI JSON says ``aliveworkers >= 1``)
and stops both groups at teardown, whatever happened in the test. Executors run the venv's
Python (``PYSPARK_PYTHON``) and bind to 127.0.0.1 (``SPARK_LOCAL_IP``).

Also usable without pytest: ``with SparkCluster.start(tmp_dir) as cluster: ...``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"


class SparkClusterError(RuntimeError):
    """The standalone cluster could not be started; the message carries the end of its logs."""


def spark_home() -> Path:
    """The installed pyspark package directory, which holds ``bin/spark-class`` and the jars."""
    import pyspark

    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").is_file():
        raise SparkClusterError(
            f"{home}/bin/spark-class not found: this pyspark cannot run a standalone cluster"
        )
    return home


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def cluster_env(home: Path) -> dict[str, str]:
    """The environment of the master, the worker and the executors they start."""
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(home),
        SPARK_LOCAL_IP=HOST,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_NO_DAEMONIZE="1",
        OMP_WAIT_POLICY="passive",
    )
    env.pop("SPARK_CONF_DIR", None)
    return env


@dataclass
class SparkCluster:
    """A running standalone master and worker; ``stop`` ends both process groups."""

    master_url: str
    master_port: int
    master_ui: str
    log_dir: Path
    startup_seconds: float = 0.0
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(
        cls, log_dir: Path, cores: int = 1, memory: str = "1g", timeout_s: float = 90.0
    ) -> SparkCluster:
        """Start the master, then the worker; return once the worker is registered."""
        home = spark_home()
        log_dir.mkdir(parents=True, exist_ok=True)
        env = cluster_env(home)
        port, ui_port, worker_ui = free_port(), free_port(), free_port()
        started = time.monotonic()
        cluster = cls(f"spark://{HOST}:{port}", port, f"http://{HOST}:{ui_port}", log_dir)
        spark_class = str(home / "bin" / "spark-class")
        try:
            cluster._spawn(
                "master",
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                 "--webui-port", str(ui_port)],
                env,
            )  # fmt: skip
            cluster._wait(
                lambda status: status is not None, timeout_s, started, "the master's web UI to answer"
            )
            cluster._spawn(
                "worker",
                [spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host", HOST,
                 "--cores", str(cores), "--memory", memory, "--webui-port", str(worker_ui),
                 "--work-dir", str(log_dir / "work")],
                env,
            )  # fmt: skip
            cluster._wait(
                lambda status: status is not None and status.get("aliveworkers", 0) >= 1,
                timeout_s,
                started,
                "the worker to register",
            )
        except BaseException:
            cluster.stop()
            raise
        cluster.startup_seconds = time.monotonic() - started
        return cluster

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        try:
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()  # the child holds its own descriptor
        process.name = name  # type: ignore[attr-defined]
        self.processes.append(process)

    def status(self) -> dict | None:
        """The master's ``/json/`` status, or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=2) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def _wait(self, ready, timeout_s: float, started: float, what: str) -> None:
        while True:
            if ready(self.status()):
                return
            dead = [p for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() - started > timeout_s:
                reason = (
                    f"{dead[0].name} exited with {dead[0].returncode}"  # type: ignore[attr-defined]
                    if dead
                    else f"no answer after {timeout_s:.0f} s"
                )
                raise SparkClusterError(f"waiting for {what}: {reason}\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM each process group (worker first), SIGKILL what is left after ``grace_s``."""
        for process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)  # executors the worker left behind, too
            with contextlib.suppress(subprocess.TimeoutExpired):  # unkillable: nothing more to do
                process.wait(5)
        self.processes.clear()

    def __enter__(self) -> SparkCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal the process group the process leads (``start_new_session``), if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def java_available() -> bool:
    return bool(shutil.which("java") or os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory) -> Iterator[SparkCluster]:
    """A standalone master + one worker (1 core, 1 GB) on 127.0.0.1 for the module's tests."""
    if not java_available():
        pytest.skip("no Java runtime: a Spark standalone cluster needs one")
    os.environ.setdefault("SPARK_LOCAL_IP", HOST)
    cluster = SparkCluster.start(tmp_path_factory.mktemp("spark_cluster"))
    print(f"spark standalone cluster {cluster.master_url} up in {cluster.startup_seconds:.1f} s")
    try:
        yield cluster
    finally:
        cluster.stop()
