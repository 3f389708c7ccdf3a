"""Runs the CLI executes belong to the platform's jobs in its code location (the job's page and the
Overview timeline of ``dagster dev`` list them), and every command shares the demo's instance."""

from pathlib import Path

import dagster as dg
import yaml
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from platform_assets.cli.commands import main
from platform_assets.cli.instance import platform_instance
from platform_assets.cli.runs import CODE_LOCATION, JobRunner
from platform_assets.layers.common.jobs import JOBS
from platform_assets.layers.common.names import TRAIN_JOB

WORKSPACE = Path(__file__).parents[2] / "workspace.yaml"


def test_the_code_location_is_the_one_dagster_dev_loads():
    locations = yaml.safe_load(WORKSPACE.read_text())["load_from"]
    assert [entry["python_module"]["location_name"] for entry in locations] == [CODE_LOCATION]


def test_a_run_is_filed_under_its_job_in_the_code_location(defs, tmp_path):
    instance, _ = platform_instance(tmp_path / "data")
    with instance:
        runner = JobRunner(defs, instance)
        result = runner.execute(TRAIN_JOB, console_level="CRITICAL")  # no features yet: it fails, fine
        run = instance.get_run_by_id(result.run_id)
        assert run.job_name == TRAIN_JOB and run.job_name in {job.name for job in JOBS}
        assert run.remote_job_origin.job_name == TRAIN_JOB
        assert run.remote_job_origin.location_name == CODE_LOCATION
        label = f"__repository__@{CODE_LOCATION}"
        # the filter the UI's job page uses: job name and the code location's repository label
        listed = instance.get_runs(dg.RunsFilter(job_name=TRAIN_JOB, tags={REPOSITORY_LABEL_TAG: label}))
        assert [r.run_id for r in listed] == [result.run_id]


def test_without_dagster_home_commands_use_the_demos_instance(monkeypatch, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "landing").mkdir(parents=True)
    (data / "landing" / "a.jsonl").write_text("{}\n")
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(data))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["register-files"]) == 0
    assert capsys.readouterr().out.splitlines() == ["a.jsonl"]
    instance, home = platform_instance(data)
    with instance:
        assert home == data / "dagster_home"
        assert instance.get_dynamic_partitions("log_files") == ["a.jsonl"]
