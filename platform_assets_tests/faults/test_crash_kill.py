"""Crash safety shown by killing: real processes get SIGKILL in the middle of a model training and
registry write, and of an Evidently report write. Whatever the moment, readers keep the previous
complete version, and the next write removes what the killed one left (``lib/atomic.py``)."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from platform_assets_tests.faults import support
from platform_assets_tests.faults.killable import TRAIN_CONFIG

pytestmark = pytest.mark.e2e

DAY = "2026-03-04"  # the last day of built_platform


def _killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert "KILLED at" in proc.stderr


def test_killed_trainings_keep_the_registry_whole_and_the_next_save_cleans_up(platform_copy, tmp_path):
    """Killed (1) with the version staged, (2) after its folder's rename with the registry's
    temporary file written, (3) mid-training, (4) the moment a staging folder appears: the registry
    parses and its champion verifies each time, nothing half-written is listed, and one clean re-run
    registers exactly one new version and removes every leftover."""
    models = platform_copy.layout.models
    environ = support.env(tmp_path / "home")
    first = support.run(support.killable(platform_copy.root, "train_model"), environ)
    assert first.returncode == 0, first.stderr[-3000:]
    assert support.assert_registry_whole(models)["champion"] == "v0001"

    seen: set[str] = set()
    for kill_at in ("rename:.v", "replace:.registry.json."):
        _killed(support.run(support.killable(platform_copy.root, "train_model", kill_at=kill_at), environ))
        doc = support.assert_registry_whole(models)
        assert [e["version"] for e in doc["versions"]] == ["v0001"] and doc["champion"] == "v0001"
        seen |= support.model_leftovers(models)

    for moment in ("training", "staging"):
        log = tmp_path / f"{moment}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                support.killable(platform_copy.root, "train_model"), env=environ, cwd=support.REPO, stderr=err
            )
            if moment == "training":
                reached = support.wait_for(lambda p=log: "feature rows: training with" in p.read_text(), proc)
            else:
                reached = support.wait_for(lambda: any(models.glob(".v[0-9]*-*")), proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
        assert reached, log.read_text()[-3000:]
        doc = support.assert_registry_whole(models)
        seen |= support.model_leftovers(models)

    # what the kills left: a staged version, an unregistered version folder, a registry temp file
    assert any(name.startswith(".v") for name in seen), seen
    assert any(name.startswith(".registry.json.") and name.endswith(".tmp") for name in seen), seen
    assert any(name.startswith("v") for name in seen), seen

    before = [e["version"] for e in support.registry(models)["versions"]]
    rerun = support.run(support.killable(platform_copy.root, "train_model"), environ)
    # the same data trains the same model again: registered, then kept out by the champion gate
    assert (
        rerun.returncode == 0
        or "failed with ERROR severity:\nmodels/conversion_model: beats_champion" in (rerun.stderr)
    ), rerun.stderr[-3000:]
    doc = support.assert_registry_whole(models)
    after = [e["version"] for e in doc["versions"]]
    assert after[:-1] == before and len(after) == len(before) + 1
    assert int(after[-1][1:]) > max(int(name[1:]) for name in seen if name.startswith("v"))  # never reused
    assert support.model_leftovers(models) == set()


def test_concurrent_registrations_all_land(tmp_path):
    """Two processes, both ready, save three versions each at the same moment: six distinct versions
    are registered, each intact (every read-modify-write of the registry holds a file lock; without
    it both read the same registry, pick the same number and one rename or entry is lost)."""
    models, go = tmp_path / "models", tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import sys, time, pathlib
        import numpy as np, pandas as pd
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from platform_assets.lib.ml.model_store import ModelStore
        x = pd.DataFrame({{"a": np.arange(20.0)}}); y = (x["a"] > 9).astype(int)
        pipe = Pipeline([("m", LogisticRegression())]).fit(x, y)
        store = ModelStore({str(models)!r})
        write = pd.DataFrame.to_parquet  # called between the registry's read and its write:
        def slow(*args, **kwargs):  # widen that window so that unlocked writers would collide
            time.sleep(0.2)
            return write(*args, **kwargs)
        pd.DataFrame.to_parquet = slow
        pathlib.Path({str(tmp_path)!r}, "ready-" + sys.argv[1]).touch()
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.0005)
        for i in range(3):
            store.save(pipe, {{"i": i}}, x, {{"params": {{}}}})
        """
    )
    environ = support.env(tmp_path / "home")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(n)], env=environ, stderr=subprocess.PIPE, text=True
        )
        for n in range(2)
    ]
    assert support.wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, procs[0], interval=0.01)
    go.touch()
    for proc in procs:
        assert proc.wait(120) == 0, proc.stderr.read()
    doc = json.loads((models / "registry.json").read_text())
    versions = [e["version"] for e in doc["versions"]]
    assert sorted(versions) == [f"v{i:04d}" for i in range(1, 7)]
    for entry in doc["versions"]:
        assert support.sha256_file(models / entry["version"] / "model.skops") == entry["sha256"]
    assert {p.name for p in models.iterdir()} == {".lock", "registry.json", *versions}


def test_a_killed_report_write_leaves_the_previous_report_whole(platform_copy, tmp_path):
    """The drift report (published from a staging folder) and the model report (a temporary file)
    are killed just before their rename: the previous HTML and JSON stay byte for byte, and the
    next write removes the leftovers."""
    train = platform_copy.defs.resolve_job_def("train_model")
    assert train.execute_in_process(instance=platform_copy.instance, run_config=TRAIN_CONFIG).success
    monitor = platform_copy.defs.resolve_job_def("monitor_day")
    assert monitor.execute_in_process(instance=platform_copy.instance, partition_key=DAY).success
    reports = platform_copy.layout.reports
    files = {
        asset: (
            reports / asset / f"date={DAY}" / "v0001.html",
            reports / asset / f"date={DAY}" / "v0001.json",
        )
        for asset in ("feature_drift", "model_performance")
    }
    before = {p: p.read_bytes() for pair in files.values() for p in pair}
    environ = support.env(tmp_path / "home")
    for asset, kill_at in (
        ("feature_drift", "replace:.v0001.html-"),
        ("model_performance", "replace:.v0001.html."),
    ):
        cmd = support.killable(
            platform_copy.root, "monitor_day", kill_at=kill_at, partition=DAY, assets=f"monitoring/{asset}"
        )
        _killed(support.run(cmd, environ))
        for path, data in before.items():
            assert path.read_bytes() == data, path
            if path.suffix == ".json":
                json.loads(data)
            else:
                assert data.rstrip().endswith(b"</html>")
        assert support.hidden_entries(files[asset][0].parent), asset  # the killed write's leftover

    rerun = support.run(
        support.killable(
            platform_copy.root,
            "monitor_day",
            partition=DAY,
            assets="monitoring/feature_drift,monitoring/model_performance",
        ),
        environ,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for html, js in files.values():
        assert support.hidden_entries(html.parent) == set()
        assert html.read_bytes().rstrip().endswith(b"</html>")
        json.loads(js.read_text())
