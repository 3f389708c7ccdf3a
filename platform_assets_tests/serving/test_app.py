"""``POST /predict`` and the health endpoints: answers with the champion, follows a new champion
without a restart, refuses a tampered one, and answers every bad request with a clear 4xx."""

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.serving.app import create_app
from platform_assets_tests.serving.support import publish, register_champion

GOOD = {
    "visitor_id": "u1",
    "time": "2026-03-10T13:00:00+01:00",
    "entry_path": "/product/3",
    "referrer": "https://www.google.com/",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "country": "DE",
}
STORED = [("u1", "s1", dt.date(2026, 3, 9), dt.datetime(2026, 3, 9, 20), 1, 5)]


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "platform"


@pytest.fixture
def client(data_dir):
    register_champion(data_dir, threshold=0.0)
    publish(data_dir, "2026-03-09", STORED)
    return TestClient(create_app(data_dir, max_body_bytes=2048), raise_server_exceptions=False)


def test_a_session_gets_the_champions_probability_label_and_version(client):
    assert client.get("/readyz").json() == {
        "ready": True,
        "model_version": "v0001",
        "store_day": "2026-03-09",
        "unservable": [],
    }
    answer = client.post("/predict", json=GOOD).json()
    assert answer["model_version"] == "v0001" and answer["arm"] == "champion"
    assert 0 < answer["probability"] < 1 and answer["label"] == 1 and answer["threshold"] == 0.0
    features = answer["features"]
    assert (features["prior_sessions_28d"], features["prior_conversions_28d"], features["hour_of_day"]) == (
        1,
        1,
        12,
    )
    assert features["days_since_prior_session"] == pytest.approx(16 / 24)
    assert (features["entry_event_type"], features["referrer_class"], features["device"]) == (
        "product",
        "search",
        "desktop",
    )
    assert answer["store_day"] == "2026-03-09"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert (
        client.get("/docs").status_code == 200 and "/predict" in client.get("/openapi.json").json()["paths"]
    )


def test_an_unseen_visitor_is_a_first_visit(client):
    answer = client.post("/predict", json={**GOOD, "visitor_id": "anon-0123456789abcdef"})
    assert answer.status_code == 200
    assert answer.json()["features"]["prior_sessions_28d"] == 0
    assert answer.json()["features"]["days_since_prior_session"] is None


def test_a_new_champion_is_served_without_a_restart(client, data_dir):
    assert client.post("/predict", json=GOOD).json()["label"] == 1
    register_champion(data_dir, threshold=1.01, seed=2)
    answer = client.post("/predict", json=GOOD).json()
    assert (answer["model_version"], answer["label"]) == ("v0002", 0)
    ModelStore(data_dir / "models").set_champion("v0001", {"by": "test", "reason": "rollback"})
    assert client.post("/predict", json=GOOD).json()["model_version"] == "v0001"


def test_a_champion_whose_file_fails_its_hash_is_never_served(client, data_dir):
    assert client.post("/predict", json=GOOD).status_code == 200
    version = register_champion(data_dir, threshold=0.5, seed=3)
    model = data_dir / "models" / version / "model.skops"
    model.write_bytes(model.read_bytes() + b"x")  # tampered after registration
    registry = data_dir / "models" / "registry.json"
    registry.write_text(registry.read_text())  # the registry is touched: the service looks again
    answer = client.post("/predict", json=GOOD)
    assert answer.status_code == 503 and "sha256" in json.dumps(answer.json())
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False


def test_not_ready_without_a_champion_or_a_store(data_dir):
    client = TestClient(create_app(data_dir))
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert [p.split(":")[0] for p in ready.json()["problems"]] == ["champion", "online store"]
    assert client.post("/predict", json=GOOD).status_code == 503
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({k: v for k, v in GOOD.items() if k != "visitor_id"}, 422, "visitor_id: Field required"),
        ({k: v for k, v in GOOD.items() if k != "time"}, 422, "time: Field required"),
        ({**GOOD, "visitor_id": 12}, 422, "visitor_id: Input should be a valid string"),
        ({**GOOD, "visitor_id": "../etc/passwd"}, 422, "visitor_id: String should match pattern"),
        ({**GOOD, "visitor_id": "x' OR 1=1 --"}, 422, "visitor_id: String should match pattern"),
        ({**GOOD, "time": "yesterday"}, 422, "time: Input should be a valid datetime"),
        ({**GOOD, "time": "2026-03-10T13:00:00"}, 422, "time: Input should have timezone info"),
        ({**GOOD, "time": "1970-01-01T00:00:00Z"}, 422, "time: Value error, time must lie between"),
        ({**GOOD, "entry_path": "product"}, 422, "entry_path: String should match pattern"),
        ({**GOOD, "device": "fridge"}, 422, "device: Input should be"),
        ({**GOOD, "country": "Germany"}, 422, "country: String should match pattern"),
        ({**GOOD, "extra": 1}, 422, "extra: Extra inputs are not permitted"),
        ([GOOD], 422, "body: Input should be a valid dictionary"),
        ({**GOOD, "user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}, 422, "bot traffic"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(client, body, status, problem):
    answer = client.post("/predict", json=body)
    assert answer.status_code == status, answer.text
    assert any(p.startswith(problem) for p in answer.json()["problems"]), answer.json()


def test_invalid_json_and_oversized_bodies_are_refused(client):
    broken = client.post("/predict", content=b'{"visitor_id": ', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["problems"][0].startswith("the body is not valid JSON")
    big = {**GOOD, "referrer": "https://a.example/" + "x" * 3000}
    assert client.post("/predict", json=big).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        yield json.dumps(GOOD)[:-1].encode()
        yield b', "user_agent": "' + b"x" * 3000 + b'"}'

    streamed = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "at most 2048 bytes" in streamed.json()["problems"][0]
    assert client.post("/predict", json=GOOD).status_code == 200  # still serving


def test_an_error_inside_a_request_is_a_500_and_the_server_keeps_serving(client, monkeypatch):
    from platform_assets.serving import answers

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(answers, "served_features_batch", broken)
    answer = client.post("/predict", json=GOOD)
    assert answer.status_code == 500 and "boom" not in answer.text
    monkeypatch.undo()
    assert client.post("/predict", json=GOOD).status_code == 200


def test_a_refused_champion_is_served_once_its_file_is_put_right_and_the_registry_changes(client, data_dir):
    version = register_champion(data_dir, threshold=0.5, seed=3)
    model = data_dir / "models" / version / "model.skops"
    good = model.read_bytes()
    model.write_bytes(good + b"x")  # a bad copy, found at the first request
    registry = data_dir / "models" / "registry.json"
    registry.write_text(registry.read_text())
    assert client.post("/predict", json=GOOD).status_code == 503
    model.write_bytes(good)  # the operator puts the right bytes back
    assert client.post("/predict", json=GOOD).status_code == 503  # not yet looked at again
    registry.write_text(registry.read_text())  # e.g. promoted again: the service looks again
    answer = client.post("/predict", json=GOOD)
    assert answer.status_code == 200 and answer.json()["model_version"] == version
    assert client.get("/readyz").json()["ready"] is True
