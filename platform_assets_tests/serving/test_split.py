"""The traffic split in the server: a 90/10 champion/challenger split with a shadow, sticky per
visitor, followed without a restart; a tampered challenger is never served; every answer lands in
the decision log in a form the decision lake ingests without a quarantined line."""

import math
import time

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib.decision_log import FOLDER, DecisionLog
from platform_assets.lib.layout import DataLayout, file_id
from platform_assets.lib.ml.deployment import DeploymentStore, start_experiment
from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.serving.app import create_app
from platform_assets.serving.traffic import TrafficSplit
from platform_assets_tests.serving.support import publish, register_champion, register_version
from platform_assets_tests.serving.test_app import GOOD, STORED

VISITORS = [f"anon-{i:016x}" for i in range(3000)]


@pytest.fixture
def data_dir(tmp_path):
    data_dir = tmp_path / "platform"
    register_champion(data_dir, threshold=0.5, seed=1)  # v0001
    register_version(data_dir, threshold=0.5, seed=2)  # v0002, the challenger
    register_version(data_dir, threshold=0.5, seed=3)  # v0003, the shadow
    publish(data_dir, "2026-03-09", STORED)
    return data_dir


def _client(data_dir, **kwargs) -> TestClient:
    return TestClient(
        create_app(data_dir, deployment_poll_seconds=0, **kwargs), raise_server_exceptions=False
    )


def _ask(client, visitor: str) -> dict:
    answer = client.post("/predict", json={**GOOD, "visitor_id": visitor})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_90_10_split_with_a_shadow_is_sticky_and_never_returns_the_shadow(data_dir):
    client = _client(data_dir)
    assert _ask(client, VISITORS[0])["experiment"] == "none"
    start_experiment(
        data_dir / "models",
        "exp-a",
        reason="test",
        actor="test",
        challenger="v0002",
        share=0.1,
        shadow="v0003",
    )
    # the split itself, over many visitors (the route is what the server answers with, below)
    split = TrafficSplit(data_dir / "models", poll_seconds=0)
    arms = {v: split.route(v).arm for v in VISITORS}
    share = list(arms.values()).count("challenger") / len(arms)
    assert abs(share - 0.1) < 4 * math.sqrt(0.1 * 0.9 / len(arms))  # binomial, 4 sd
    another = TrafficSplit(data_dir / "models")  # as another server process would
    assert all(another.route(v).arm == arms[v] for v in VISITORS)  # sticky
    # the server answers each visitor from its arm, twice the same, and never with the shadow
    asked = [v for v in VISITORS if arms[v] == "challenger"][:15] + [
        v for v in VISITORS if arms[v] == "champion"
    ][:15]
    for visitor in asked:
        first, again = _ask(client, visitor), _ask(client, visitor)
        version = "v0002" if arms[visitor] == "challenger" else "v0001"
        assert (first["arm"], first["model_version"], first["experiment"]) == (
            arms[visitor],
            version,
            "exp-a",
        )
        assert (again["arm"], again["model_version"]) == (first["arm"], first["model_version"])
    # a new experiment draws again: other visitors go to the challenger
    DeploymentStore(data_dir / "models").end("exp-a", reason="test", actor="test", evidence={})
    assert {_ask(client, v)["arm"] for v in asked} == {"champion"}
    start_experiment(data_dir / "models", "exp-b", reason="test", actor="test", challenger="v0002", share=0.1)
    redrawn = {v for v in VISITORS if split.route(v).arm == "challenger"}
    assert redrawn and redrawn != {v for v in VISITORS if arms[v] == "challenger"}
    assert {_ask(client, v)["arm"] for v in sorted(redrawn)[:3]} == {"challenger"}


def test_the_shadow_scores_what_it_would_answer_and_is_recorded_apart(data_dir, tmp_path):
    log = DecisionLog(DataLayout(data_dir).landing)
    start_experiment(data_dir / "models", "exp-s", reason="test", actor="test", shadow="v0003")
    with _client(data_dir, decisions=log) as client:
        answered = _ask(client, "u1")
    assert (answered["arm"], answered["model_version"]) == ("champion", "v0001")
    (path,) = log.published
    decisions = DuckDBEngine(data_dir=str(data_dir))
    key = f"{FOLDER}/{path.name}"
    decisions.ingest_decision_file(str(path), key, file_id(key))
    (row,) = pq.read_table(DataLayout(data_dir).decisions_catalog.fragments()[0].path).to_pylist()
    assert row["shadow_version"] == "v0003" and row["decision_id"] == answered["decision_id"]
    # the shadow's probability is what v0003 answers as the champion, for the same request
    ModelStore(data_dir / "models").set_champion("v0003", {"by": "test", "reason": "compare"})
    assert _ask(_client(data_dir), "u1")["probability"] == pytest.approx(row["shadow_probability"], abs=1e-12)
    assert row["probability"] == pytest.approx(answered["probability"], abs=1e-12)


def test_a_tampered_challenger_is_never_served_its_visitors_get_the_champion_apart(data_dir):
    start_experiment(data_dir / "models", "exp-t", reason="test", actor="test", challenger="v0002", share=0.5)
    model = data_dir / "models" / "v0002" / "model.skops"
    model.write_bytes(model.read_bytes() + b"x")  # tampered after the deployment was checked
    client = _client(data_dir)
    answers = [_ask(client, v) for v in VISITORS[:40]]
    assert {a["model_version"] for a in answers} == {"v0001"}
    assert {a["arm"] for a in answers} == {"champion", "fallback"}  # never counted as the challenger's
    ready = client.get("/readyz").json()
    assert ready["deployment"]["experiment"] == "exp-t" and "v0002" in ready["unservable"][0]


def test_every_answer_lands_in_the_decision_log_and_is_ingested_whole(data_dir):
    log = DecisionLog(DataLayout(data_dir).landing, max_lines=20)
    start_experiment(
        data_dir / "models",
        "exp-d",
        reason="test",
        actor="test",
        challenger="v0002",
        share=0.5,
        shadow="v0003",
    )
    with _client(data_dir, decisions=log) as client:
        answers = {a["decision_id"]: a for a in (_ask(client, v) for v in VISITORS[:45])}
    assert len(log.published) == 3  # 20 + 20 + the 5 a graceful stop lands
    engine = DuckDBEngine(data_dir=str(data_dir))
    for path in log.published:
        key = f"{FOLDER}/{path.name}"
        result = engine.ingest_decision_file(str(path), key, file_id(key))
        assert result.quarantined == 0, result.reasons
    rows = [
        r
        for f in DataLayout(data_dir).decisions_catalog.fragments()
        for r in pq.read_table(f.path).to_pylist()
    ]
    assert len(rows) == len(answers) == 45
    for row in rows:
        answer = answers[row["decision_id"]]
        assert (row["arm"], row["version"], row["experiment"]) == (
            answer["arm"],
            answer["model_version"],
            "exp-d",
        )
        assert row["probability"] == answer["probability"] and row["shadow_version"] == "v0003"


def test_a_quiet_server_lands_its_decisions_by_age(data_dir):
    log = DecisionLog(DataLayout(data_dir).landing, max_seconds=0.5)
    with _client(data_dir, decisions=log) as client:
        _ask(client, "u1")
        deadline = time.monotonic() + 10
        while not log.published and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(log.published) == 1  # landed while the server runs, no further request needed


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_version_is_tried_again_after_the_retry_interval_without_a_registry_change(data_dir):
    """A challenger whose file was bad when first used, then put right: its visitors get the
    champion (arm 'fallback') until the retry interval has passed, then the challenger itself."""
    start_experiment(data_dir / "models", "exp-r", reason="test", actor="test", challenger="v0002", share=0.5)
    model = data_dir / "models" / "v0002" / "model.skops"
    good = model.read_bytes()
    model.write_bytes(good + b"x")
    split = TrafficSplit(data_dir / "models", poll_seconds=0)
    clock = _Clock()
    split.pinned.clock, split.pinned.retry_seconds = clock, 30.0
    arms = {split.route(v).arm for v in VISITORS[:40]}
    assert arms == {"champion", "fallback"} and "sha256" in split.pinned.problem("v0002")
    model.write_bytes(good)
    clock.now += 29.0
    assert {split.route(v).arm for v in VISITORS[:40]} == {"champion", "fallback"}
    clock.now += 1.0
    routes = [split.route(v) for v in VISITORS[:40]]
    assert {r.arm for r in routes} == {"champion", "challenger"}
    assert {r.scorer.version for r in routes if r.arm == "challenger"} == {"v0002"}
    assert split.pinned.problem("v0002") is None and split.problems() == []


def test_a_refused_champion_is_tried_again_after_the_retry_interval(data_dir):
    from platform_assets.serving.champion import ChampionUnavailable, ChampionWatcher

    model = data_dir / "models" / "v0001" / "model.skops"
    good = model.read_bytes()
    model.write_bytes(good + b"x")
    clock = _Clock()
    watcher = ChampionWatcher(data_dir / "models", retry_seconds=30.0, clock=clock)
    with pytest.raises(ChampionUnavailable, match="sha256"):
        watcher.current()
    model.write_bytes(good)
    clock.now += 10.0
    with pytest.raises(ChampionUnavailable):
        watcher.current()
    clock.now += 20.0
    assert watcher.current().version == "v0001"
