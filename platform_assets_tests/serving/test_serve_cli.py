"""``platform-assets serve``: a real uvicorn on 127.0.0.1 answers, and bad options are refused."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from platform_assets.cli.commands import main
from platform_assets_tests.serving.support import publish, register_champion
from platform_assets_tests.serving.test_app import GOOD, STORED


@pytest.mark.parametrize("option", [["--port", "0"], ["--port", "http"], ["--max-body-bytes", "10"]])
def test_bad_options_are_refused(option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *option])
    assert exit_.value.code == 2 and "expected" in capsys.readouterr().err


def test_a_missing_data_directory_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "nowhere"))
    assert main(["serve"]) == 1
    assert "no data directory" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_the_service_answers_on_127_0_0_1_by_default(tmp_path):
    data_dir = tmp_path / "platform"
    register_champion(data_dir, threshold=0.0)
    publish(data_dir, "2026-03-09", STORED)
    port = _free_port()
    cli = [sys.executable, "-m", "platform_assets.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(cli, env={**os.environ, "PLATFORM_DATA_DIR": str(data_dir)})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "the service did not start"
                time.sleep(0.2)
            answer = client.post("/predict", json=GOOD)
            assert answer.status_code == 200 and answer.json()["model_version"] == "v0001"
            answered = {answer.json()["decision_id"]}
            for n in range(29):
                again = client.post("/predict", json={**GOOD, "visitor_id": f"anon-{n:016x}"})
                assert again.status_code == 200
                answered.add(again.json()["decision_id"])
            assert (
                client.post(
                    "/predict", content=b"{", headers={"content-type": "application/json"}
                ).status_code
                == 400
            )
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        bound = [
            line.split()[3] for line in listening.splitlines()[1:] if line.split()[3].endswith(f":{port}")
        ]
        assert bound == [f"127.0.0.1:{port}"]  # not the wildcard address, not IPv6
    finally:
        server.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert server.wait(20) in (0, -signal.SIGTERM)
    # the graceful stop landed the open decision file whole: every answer is a line of it
    folder = data_dir / "landing" / "decisions"
    assert not list(folder.glob(".*"))  # no hidden (unpublished) file left
    lines = [
        json.loads(line)
        for path in folder.glob("decisions-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert {line["decision_id"] for line in lines} == answered and len(lines) == 30
