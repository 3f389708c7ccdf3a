"""The whole loop through the real server: traffic served and split, decisions logged and ingested,
outcomes joined, the A/B result, and the decision.

Three generated days are built and a champion trained by the platform (v0001). A second version,
v0002, is the same kind of pipeline fitted to the *inverted* labels: on the generated sessions it
truly predicts worse. ``platform-assets serve`` runs with a 50/50 experiment between them,
``simulate-traffic``'s replay asks it for every session of the last day at its start, the server
is stopped with SIGTERM (its decision log lands whole), and the platform ingests the log, judges
the day and runs the experiment sensor. Planted both ways round: v0001 challenging v0002 is
promoted through the gate; v0002 challenging v0001 is refused and the champion kept.
"""

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.ml.deployment import start_experiment
from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.lib.ml.training import build_pipeline, prepare_features
from platform_assets.serving.replay import replay, session_requests
from platform_assets.settings import PlatformSettings
from platform_assets_tests.checks_support import build_days, days, ingest
from platform_assets_tests.experiments.test_experiment_loop import ingest_and_judge

pytestmark = pytest.mark.e2e
FIRST_DAY, DAYS = "2026-03-01", 3
SMALL_DATA = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three built days (enough sessions for 200 visitors an arm), v0001 trained and champion,
    v0002 fitted to the inverted labels."""
    from platform_assets.lib.log_generator import generate_logs

    root = tmp_path_factory.mktemp("served") / "platform"
    layout = DataLayout(root).ensure()
    defs = build_definitions(PlatformSettings(data_dir=root))
    generate_logs(layout.landing, FIRST_DAY, DAYS, 16_000, seed=17, malformed_rate=0.0)
    built = days(FIRST_DAY, DAYS)
    with dg.instance_for_test() as instance:
        for key in layout.landed_keys():
            assert ingest(defs, instance, key).success
        assert build_days(defs, instance, built[0], built[-1]).success
        train = defs.resolve_job_def("train_model")
        assert train.execute_in_process(instance=instance, run_config=SMALL_DATA).success
    store = ModelStore(layout.models)
    assert store.champion().version == "v0001"
    with duckdb.connect(str(layout.warehouse_db), read_only=True) as con:
        frame = con.execute("SELECT * FROM session_features WHERE event_date < ?", [built[-1]]).df()
    inverted = build_pipeline("logreg").fit(prepare_features(frame), 1 - frame["label"])
    info = {"params": {"kind": "inverted labels"}, "training_data": {"rows": len(frame)}, "run_id": "test"}
    saved = store.save(inverted, {"model": {"at_train_best_f1": {"threshold": 0.5}}}, frame.head(50), info)
    assert saved.version == "v0002"
    return root, built[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_replay(root: Path, day: str):
    port = _free_port()
    cli = [sys.executable, "-m", "platform_assets.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(cli, env={**os.environ, "PLATFORM_DATA_DIR": str(root)})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the service did not start"
            time.sleep(0.2)
        requests = session_requests(DataLayout(root), day)
        replayed = replay(f"http://127.0.0.1:{port}", requests)
    finally:
        server.send_signal(signal.SIGTERM)  # lands the open decision-log file
        assert server.wait(60) in (0, -signal.SIGTERM)
    assert not replayed.errors and replayed.answered == len(requests)
    return replayed


@pytest.mark.parametrize(
    ("champion", "challenger", "expected"),
    [("v0002", "v0001", "challenger_better"), ("v0001", "v0002", "challenger_worse")],
)
def test_served_traffic_decides_its_own_experiment(trained, tmp_path, champion, challenger, expected):
    source, day = trained
    root = tmp_path / "platform"
    shutil.copytree(source, root)
    layout = DataLayout(root)
    store = ModelStore(layout.models)
    if store.champion().version != champion:
        store.set_champion(champion, {"action": "promote", "reason": "planted for the test"})
    start_experiment(
        layout.models, "exp-served", reason="test", actor="pytest", challenger=challenger, share=0.5
    )

    replayed = _serve_and_replay(root, day)
    assert {arm for arm, _ in replayed.by_arm} == {"champion", "challenger"}  # split, sticky per visitor
    assert {version for arm, version in replayed.by_arm if arm == "challenger"} == {challenger}

    defs = build_definitions(PlatformSettings(data_dir=root))
    with dg.instance_for_test() as instance:
        (verdict,) = ingest_and_judge(defs, instance, layout, dt.date.fromisoformat(day))
        (comparison,) = verdict["comparisons"]
        assert verdict["decision"] == expected and verdict["pending_sessions"] == 0
        assert comparison["sessions"] == replayed.answered  # every answer joined to its outcome
        sensor = next(s for s in defs.sensors if s.name == "experiment_decider")
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        if expected == "challenger_better":
            (request,) = result.run_requests
            run = defs.resolve_job_def(request.job_name).execute_in_process(
                run_config=request.run_config, instance=instance
            )
            assert run.success and ModelStore(layout.models).champion().version == challenger
        else:
            assert not result.run_requests
            assert ModelStore(layout.models).champion().version == champion
            assert ModelStore(layout.models).decisions()[-1]["action"] == "keep"
