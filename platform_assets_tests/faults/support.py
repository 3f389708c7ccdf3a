"""Helpers for the fault tests: run a platform process to be killed, read what it left behind."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def env(dagster_home: Path, data_dir: Path | None = None) -> dict[str, str]:
    """The test environment of the common brief for a child process (its own DAGSTER_HOME)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").touch()
    out = {
        **os.environ,
        "OMP_WAIT_POLICY": "passive",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONUNBUFFERED": "1",
    }
    if data_dir is not None:
        out["PLATFORM_DATA_DIR"] = str(data_dir)
    return out


def killable(
    data_dir: Path,
    job: str,
    *,
    kill_at: str | None = None,
    partition: str | list[str] | None = None,
    assets: str = "",
) -> list[str]:
    """The command line of ``killable.py`` (see its docstring)."""
    cmd = [sys.executable, "-m", "platform_assets_tests.faults.killable", str(data_dir), job]
    if kill_at:
        cmd += ["--kill-at", kill_at]
    for key in [partition] if isinstance(partition, str) else partition or []:
        cmd += ["--partition", key]
    if assets:
        cmd += ["--assets", assets]
    return cmd


def run(
    cmd: list[str], environ: dict[str, str], timeout: float = 180, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    environ = {**environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))}
    return subprocess.run(cmd, env=environ, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def outcomes(proc: subprocess.CompletedProcess) -> tuple[dict[str, dict], float]:
    """The ``RESULT`` of each partition ``killable.py`` ran, and its peak RSS in MB."""
    results = {}
    for line in proc.stderr.splitlines():
        if line.startswith("RESULT "):
            outcome = json.loads(line[len("RESULT ") :])
            results[outcome["partition"]] = outcome
    peak = re.search(r"PEAK_RSS_KB=(\d+)", proc.stderr)
    assert peak, proc.stderr[-3000:]
    return results, int(peak.group(1)) / 1024


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120, interval: float = 0.001) -> bool:
    """Poll ``predicate`` until it holds (True) or ``proc`` ends or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(interval)
    return False


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registry(models: Path) -> dict:
    """The registry document, parsed here with ``json`` (not through the store)."""
    return json.loads((models / "registry.json").read_text("utf-8"))


def assert_registry_whole(models: Path) -> dict:
    """The registry parses, every listed version's files match their registered sha256 (hashed
    here, independently of the store), and the champion is one of them. Returns the registry."""
    doc = registry(models)
    listed = [e["version"] for e in doc["versions"]]
    assert len(listed) == len(set(listed)), listed
    for entry in doc["versions"]:
        folder = models / entry["version"]
        assert sha256_file(folder / "model.skops") == entry["sha256"], entry["version"]
        assert sha256_file(folder / "reference.parquet") == entry["reference_sha256"], entry["version"]
        assert sha256_file(folder / "card.json") == entry["card_sha256"], entry["version"]
    assert doc["champion"] in listed
    return doc


def model_leftovers(models: Path) -> set[str]:
    """Temporary names and version folders the registry does not list (``.lock`` is permanent)."""
    listed = {e["version"] for e in registry(models)["versions"]}
    return {
        p.name
        for p in models.iterdir()
        if (p.name.startswith(".") and p.name != ".lock") or (p.name.startswith("v") and p.name not in listed)
    }


def hidden_entries(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob(".*")}
