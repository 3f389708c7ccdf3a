"""Deployments: validated arms, sticky assignment in the declared shares, a shared SQLite history."""

import multiprocessing
from collections import Counter

import pytest

from platform_assets.lib.ml.deployment import (
    CHAMPION,
    Arm,
    DeploymentStore,
    assign,
    assignment_point,
    challenger_share,
    validate_arms,
)

SPLIT = [Arm(CHAMPION, None, 0.9), Arm("challenger", "v0002", 0.1)]


@pytest.mark.parametrize(
    ("arms", "shadow", "message"),
    [
        ([Arm("challenger", "v0002", 1.0)], None, "exactly one 'champion'"),
        ([Arm(CHAMPION, None, 0.5), Arm(CHAMPION, None, 0.5)], None, "exactly one 'champion'"),
        ([Arm(CHAMPION, None, 0.5), Arm("b", "v0002", 0.4)], None, "sum to 1"),
        ([Arm(CHAMPION, None, 1.5), Arm("b", "v0002", -0.5)], None, "share must be in"),
        ([Arm(CHAMPION, None, float("nan"))], None, "share must be in"),
        ([Arm(CHAMPION, "v0001", 1.0)], None, "names no version"),
        ([Arm(CHAMPION, None, 0.5), Arm("b", None, 0.5)], None, "needs a model version"),
        ([Arm(CHAMPION, None, 0.5), Arm("b", "../../etc", 0.5)], None, "version"),
        ([Arm(CHAMPION, None, 0.5), Arm("B'; DROP", "v0002", 0.5)], None, "arm name"),
        ([Arm(CHAMPION, None, 0.5), Arm("b", "v0002", 0.3), Arm("b", "v0003", 0.2)], None, "unique"),
        ([Arm(CHAMPION, None, 1.0)], "v1/../x", "version"),
    ],
)
def test_bad_arms_are_refused_with_the_reason(arms, shadow, message):
    with pytest.raises(ValueError, match=message):
        validate_arms(arms, shadow)


def test_assignment_is_sticky_and_follows_the_shares(tmp_path):
    store = DeploymentStore(tmp_path)
    deployment = store.deploy("exp-1", SPLIT, reason="test", actor="pytest")
    visitors = [f"anon-{i:08x}" for i in range(100_000)]
    arms = [assign(deployment, v).name for v in visitors]
    assert arms == [assign(deployment, v).name for v in visitors]  # sticky
    share = Counter(arms)["challenger"] / len(visitors)
    assert abs(share - 0.1) < 4 * (0.1 * 0.9 / len(visitors)) ** 0.5  # within 4 binomial sd
    # a new experiment draws again, independently: 18% of visitors change arm (2 x 0.1 x 0.9)
    redrawn = store.deploy("exp-2", SPLIT, reason="test", actor="pytest")
    moved = sum(a != assign(redrawn, v).name for v, a in zip(visitors, arms, strict=True)) / len(visitors)
    assert abs(moved - 0.18) < 4 * (0.18 * 0.82 / len(visitors)) ** 0.5
    assert 0 <= assignment_point("exp-1", "") < 1
    assert challenger_share(deployment, "challenger") == pytest.approx(0.1)


def test_history_current_and_end(tmp_path):
    store = DeploymentStore(tmp_path)
    assert store.current() is None and store.current_id() == 0
    first = store.deploy(
        "exp-1", SPLIT, reason="try v0002", actor="alice", shadow="v0003", budget_sessions=5000
    )
    assert store.current() == first and store.current_id() == first.id
    assert (first.shadow, first.budget_sessions, first.status) == ("v0003", 5000, "running")
    assert first.arms[0] == Arm(CHAMPION, None, 0.9)  # the champion first, as declared
    with pytest.raises(ValueError, match="not the running deployment"):
        store.end("exp-9", reason="x", actor="sensor", evidence={})
    ended = store.end("exp-1", reason="challenger worse", actor="sensor", evidence={"interval": [0.01, 0.03]})
    assert ended.arms == (Arm(CHAMPION, None, 1.0),) and ended.status == "ended"
    assert ended.evidence == {"interval": [0.01, 0.03]}
    assert [d.id for d in store.history()] == [first.id, ended.id]
    with pytest.raises(ValueError, match="not the running deployment"):
        store.end("exp-1", reason="twice", actor="sensor", evidence={})
    other_split = [Arm(CHAMPION, None, 0.5), Arm("challenger", "v0002", 0.5)]
    store.deploy("exp-2", SPLIT, reason="new", actor="alice")
    store.deploy("exp-2", SPLIT, reason="same arms, a shadow added", actor="alice", shadow="v0004")
    with pytest.raises(ValueError, match="a new split is a new experiment"):
        store.deploy("exp-2", other_split, reason="moved", actor="alice")
    with pytest.raises(ValueError, match="has ended"):
        store.deploy("exp-1", SPLIT, reason="again", actor="alice")


def _deploy_many(path, experiment, count):
    store = DeploymentStore(path)
    for i in range(count):
        store.deploy(experiment, SPLIT, reason=f"{i}", actor=experiment)


def test_concurrent_writers_and_a_reader_see_whole_rows(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_deploy_many, args=(tmp_path, f"exp-{w}", 40)) for w in range(2)]
    for w in writers:
        w.start()
    store = DeploymentStore(tmp_path)
    seen = set()
    while any(w.is_alive() for w in writers):
        current = store.current()
        if current is not None:
            assert current.arms == tuple(SPLIT)  # never a half-written row
            seen.add(current.id)
    for w in writers:
        w.join()
        assert w.exitcode == 0
    history = store.history()
    assert len(history) == 80 and len({d.id for d in history}) == 80
    assert Counter(d.actor for d in history) == {"exp-0": 40, "exp-1": 40}
