"""``platform-assets reports serve``: the reports and their index, read-only, nothing outside them."""

import http.client
import json
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.cli.commands import main
from platform_assets.cli.reports import make_server
from platform_assets.lib.report_index import Verdict, write_verdict
from platform_assets.settings import DEFAULT_REPORTS_URL, load_settings

DAY = "2026-03-04"
HOSTILE_COLUMN = "<script>alert('column')</script>"
HOSTILE_VALUE = '"><img src=x onerror=alert(1)>'
SECRET = "the secret outside the reports folder"


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports folder with a drift and a model report of one day, a secret beside it, and
    symlinks out of it (to a file and to a folder)."""
    root = tmp_path / "data" / "reports"
    drift = root / "feature_drift" / f"date={DAY}"
    model = root / "model_performance" / f"date={DAY}"
    for folder in (drift, model):
        folder.mkdir(parents=True)
        (folder / "v0001.html").write_text("<html><body>an Evidently report</body></html>")
        (folder / "v0001.json").write_text('{"metrics": []}')
    write_verdict(
        drift / "v0001.html",
        Verdict(True, f"1 of 9 columns drifted ({HOSTILE_VALUE})", {"drifted_columns": [HOSTILE_COLUMN]}),
    )
    write_verdict(model / "v0001.html", Verdict(False, "predictions stable", {"roc_auc": 0.8123456}))
    (tmp_path / "data" / "secret.html").write_text(SECRET)
    (tmp_path / "data" / "secret.json").write_text(json.dumps(SECRET))
    (drift / "leak.html").symlink_to(tmp_path / "data" / "secret.html")
    (root / "outside").symlink_to(tmp_path / "data", target_is_directory=True)
    (drift / ".hidden.json").write_text(json.dumps(SECRET))
    (drift / "notes.txt").write_text(SECRET)
    return root


@pytest.fixture
def server(reports: Path) -> Iterator[str]:
    """The server on a free port of 127.0.0.1, in a thread; yields its base address."""
    httpd = make_server(reports, "127.0.0.1", 0, DEFAULT_REPORTS_URL)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _get(base: str, path: str, method: str = "GET", host: str | None = None) -> tuple[int, dict, bytes]:
    """One request with ``path`` sent as written (no client-side normalisation of ``..``)."""
    address = base.removeprefix("http://")
    connection = http.client.HTTPConnection(address, timeout=10)
    try:
        headers = {"Host": host} if host else {}
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_report_and_its_json_are_served_with_their_types(server):
    with urllib.request.urlopen(f"{server}/feature_drift/date={DAY}/v0001.html", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.read() == b"<html><body>an Evidently report</body></html>"
    status, headers, body = _get(server, f"/model_performance/date={DAY}/v0001.json")
    assert (status, headers["Content-Type"], body) == (200, "application/json", b'{"metrics": []}')
    status, headers, body = _get(server, f"/feature_drift/date={DAY}/v0001.html", method="HEAD")
    assert (status, body) == (200, b"") and int(headers["Content-Length"]) > 0


def test_the_index_lists_every_report_by_day_with_its_verdict_escaped(server):
    for path in ("/", "/index.html"):
        status, headers, body = _get(server, path)
        page = body.decode()
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert f"<h2>{DAY}</h2>" in page
        assert f'href="feature_drift/date={DAY}/v0001.html"' in page
        assert f'href="model_performance/date={DAY}/v0001.html"' in page
        assert '<span class="alarm">alarm</span>' in page and '<span class="ok">no alarm</span>' in page
        assert "roc_auc: 0.8123" in page
        assert HOSTILE_COLUMN not in page and HOSTILE_VALUE not in page and "<script" not in page
        assert "&lt;script&gt;alert(&#x27;column&#x27;)&lt;/script&gt;" in page
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
        assert "leak.html" not in page and "outside" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.html",
        "/%2e%2e/secret.html",
        "/feature_drift/../../secret.html",
        f"/feature_drift/date={DAY}/..%2f..%2f..%2fsecret.html",
        "/%2Fetc%2Fpasswd.json",
        f"/feature_drift/date={DAY}/.hidden.json",
        f"/feature_drift/date={DAY}/notes.txt",
        f"/feature_drift/date={DAY}/",
        f"/feature_drift/date={DAY}/missing.html",
        "/feature_drift%00.html",
    ],
)
def test_nothing_outside_the_reports_and_no_other_file_is_served(server, path):
    status, _, body = _get(server, path)
    assert status == 404 and SECRET.encode() not in body


@pytest.mark.parametrize("path", [f"/feature_drift/date={DAY}/leak.html", "/outside/secret.json"])
def test_symlinks_out_of_the_folder_are_refused(server, path):
    status, _, body = _get(server, path)
    assert status == 403 and SECRET.encode() not in body


def test_only_get_and_head_and_only_loopback_host_names(server):
    assert _get(server, "/", method="POST")[0] == 501
    assert _get(server, "/", method="PUT")[0] == 501
    status, _, body = _get(server, "/", host="attacker.example:3001")
    assert status == 403 and b"feature_drift" not in body
    assert _get(server, "/", host="localhost:3001")[0] == 200


def test_the_command_refuses_a_taken_port_in_one_line(monkeypatch, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code = main(["reports", "serve", "--port", str(taken.getsockname()[1])])
    error = capsys.readouterr().err.strip()
    assert code == 1 and len(error.splitlines()) == 1 and "Traceback" not in error
    assert error.startswith("platform-assets reports: cannot serve on 127.0.0.1:") and "--port" in error


def test_the_command_needs_the_data_directory(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "nowhere"))
    assert main(["reports", "serve"]) == 1
    assert "no data directory at" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value",
    [
        "ftp://127.0.0.1:3001",
        "javascript:alert(1)",
        "http://",
        "http://user:password@127.0.0.1:3001",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:3001/?q=1",
        "http://127.0.0.1:3001/#top",
        "http://127.0.0.1:3001/a b",
    ],
)
def test_a_reports_url_that_is_not_an_http_address_is_refused(value):
    with pytest.raises(ValueError, match="PLATFORM_REPORTS_URL="):
        load_settings({"PLATFORM_DATA_DIR": os.devnull, "PLATFORM_REPORTS_URL": value})


def test_the_reports_url_defaults_to_the_server_and_loses_its_trailing_slash():
    assert load_settings({}).reports_url == DEFAULT_REPORTS_URL == "http://127.0.0.1:3001"
    url = load_settings({"PLATFORM_REPORTS_URL": " https://reports.example.com/monitoring/ "}).reports_url
    assert url == "https://reports.example.com/monitoring"
