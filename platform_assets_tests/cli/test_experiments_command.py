"""``platform-assets experiments start|end|list``: the deployment history the server reads, with
every refusal a one-line message and nothing written."""

import pytest

from platform_assets.cli.commands import main
from platform_assets.lib.ml.deployment import DeploymentStore
from platform_assets_tests.serving.support import register_champion, register_version


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    data_dir = tmp_path / "platform"
    register_champion(data_dir, threshold=0.5, seed=1)
    register_version(data_dir, threshold=0.5, seed=2)
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(data_dir))
    return data_dir


def test_start_list_and_end_an_experiment(data_dir, capsys):
    assert main(["experiments", "list"]) == 0
    assert "no deployment yet" in capsys.readouterr().out
    args = ["experiments", "start", "exp-1", "--challenger", "v0002", "--share", "0.1", "--budget", "500"]
    assert main([*args, "--reason", "try v0002"]) == 0
    assert "challenger=v0002 10%" in capsys.readouterr().out
    (deployed,) = DeploymentStore(data_dir / "models").history()
    assert (deployed.experiment, deployed.budget_sessions, deployed.arm("challenger").share) == (
        "exp-1",
        500,
        0.1,
    )
    assert deployed.arm("champion").share == pytest.approx(0.9)
    assert main(["experiments", "end", "exp-1", "--reason", "enough"]) == 0
    assert main(["experiments", "list"]) == 0
    listing = capsys.readouterr().out
    assert "running" in listing and "ended" in listing and "enough" in listing
    assert DeploymentStore(data_dir / "models").current().status == "ended"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["exp-2"], "name a --challenger"),
        (["exp-2", "--challenger", "v0009"], "v0009"),
        (["exp-2", "--challenger", "../v1"], "invalid model version"),
        (["Exp 2", "--challenger", "v0002"], "lowercase"),
        (["none", "--challenger", "v0002"], "not 'none'"),
    ],
)
def test_refusals_name_the_problem_and_write_nothing(data_dir, capsys, args, problem):
    assert main(["experiments", "start", *args, "--reason", "r"]) == 1
    assert problem in capsys.readouterr().err
    assert DeploymentStore(data_dir / "models").history() == []


def test_a_tampered_challenger_is_refused(data_dir, capsys):
    model = data_dir / "models" / "v0002" / "model.skops"
    model.write_bytes(model.read_bytes() + b"x")
    assert main(["experiments", "start", "exp-3", "--challenger", "v0002", "--reason", "r"]) == 1
    assert "sha256" in capsys.readouterr().err
    assert DeploymentStore(data_dir / "models").history() == []


@pytest.mark.parametrize("share", ["0", "1", "1.5", "ten"])
def test_a_share_outside_0_1_is_an_argument_error(data_dir, share):
    with pytest.raises(SystemExit) as exit_:
        main(["experiments", "start", "exp-4", "--challenger", "v0002", "--share", share, "--reason", "r"])
    assert exit_.value.code == 2


def test_simulate_traffic_refuses_a_day_that_is_not_built(data_dir, capsys):
    assert main(["simulate-traffic", "--day", "2026-03-04"]) == 1
    assert "2026-03-04 is not built" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["simulate-traffic", "--day", "2026-02-30"])
    assert exit_.value.code == 2
