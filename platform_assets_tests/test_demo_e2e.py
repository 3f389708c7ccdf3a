"""The README's main command end to end: ``platform-assets demo`` in a fresh data directory.

Expected values are computed independently of the platform: lines are counted in the landed
files with plain Python, lake totals are read back with DuckDB from the Parquet files, and the
marts are reconciled against those lake rows.
"""

import datetime as dt
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "platform_assets.cli"]


def _count_lines(path: Path) -> int:
    data = (gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open)(path, "rb").read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo run shared by the tests below (it is the slow part)."""
    root = tmp_path_factory.mktemp("demo")
    data_dir, home = root / "data", root / "dagster_home"
    home.mkdir()
    # A real server log already waiting in the landing folder is processed too.
    landing = data_dir / "landing" / "incoming"
    landing.mkdir(parents=True)
    real = Path(__file__).resolve().parent / "fixtures" / "apache_combined_elastic_2015.log"
    shutil.copy(real, landing / "apache 2015.log")
    env = {**os.environ, "PLATFORM_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    args = ["demo"]  # the README's command, with its defaults (42 normal days, 4 drifted, seed 7)
    proc = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return data_dir, home, proc.stdout, proc.stderr


def test_every_landed_line_is_an_event_or_quarantined(demo_run):
    data_dir, _, _, _ = demo_run
    landed = [p for p in (data_dir / "landing").rglob("*") if p.is_file()]
    assert len(landed) == 47  # 42 normal days + 4 drifted days + the real log
    lines_in = sum(_count_lines(p) for p in landed)
    con = duckdb.connect()
    events = con.execute(f"SELECT count(*) FROM '{data_dir}/lake/events/*/*.parquet'").fetchone()[0]
    quarantined = con.execute(f"SELECT count(*) FROM '{data_dir}/lake/quarantine/*.parquet'").fetchone()[0]
    assert events + quarantined == lines_in
    assert 0 < quarantined < lines_in * 0.01
    duplicates = con.execute(
        f"SELECT count(*) FROM (SELECT source_file, source_line FROM '{data_dir}/lake/events/*/*.parquet' "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    assert duplicates == 0


def test_marts_reconcile_with_the_lake(demo_run):
    data_dir, _, _, _ = demo_run
    con = duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True)
    lake = dict(
        con.execute(
            f"SELECT event_date, count(*) FROM read_parquet('{data_dir}/lake/events/*/*.parquet', "
            "hive_partitioning = false) GROUP BY 1"
        ).fetchall()
    )
    traffic = dict(con.execute("SELECT event_date, sum(requests) FROM daily_traffic GROUP BY 1").fetchall())
    sessions = dict(con.execute("SELECT event_date, sum(events) FROM sessions GROUP BY 1").fetchall())
    # Every lake day in the partition range was built, and each mart accounts for every event.
    assert traffic == lake
    assert sessions == lake
    funnel = con.execute(
        "SELECT event_date, list(sessions ORDER BY step_order) FROM funnel GROUP BY 1"
    ).fetchall()
    assert funnel and all(steps == sorted(steps, reverse=True) for _, steps in funnel)
    assert con.execute("SELECT count(*) FROM session_features").fetchone()[0] > 1000


def test_the_model_beats_the_baseline_and_is_stored_without_pickle(demo_run):
    data_dir, _, _, _ = demo_run
    registry = json.loads((data_dir / "models" / "registry.json").read_text())
    assert registry["versions"][0]["version"] == "v0001"
    assert registry["decisions"][0]["action"] == "promote" and registry["decisions"][0]["champion"] == "v0001"
    card = json.loads((data_dir / "models" / "v0001" / "card.json").read_text())
    assert card["metrics"]["beats_baseline"] is True
    assert card["metrics"]["model"]["roc_auc"] > card["metrics"]["baseline"]["roc_auc"] + 0.02
    assert card["metrics"]["model"]["log_loss"] < card["metrics"]["baseline"]["log_loss"]
    assert not list((data_dir / "models").rglob("*.pkl")) and not list(
        (data_dir / "models").rglob("*.joblib")
    )


def test_drifted_days_are_flagged_and_the_last_normal_day_is_not(demo_run):
    data_dir, _, stdout, _ = demo_run
    reports = sorted((data_dir / "reports" / "feature_drift").glob("date=*/v0001.json"))
    assert len(reports) == 5  # last normal day + 4 drifted days
    verdicts = [
        line
        for line in stdout.splitlines()
        if line.strip().startswith("drift") and "vs the new champion" not in line
    ]
    assert len(verdicts) == 5
    assert "no drift" in verdicts[0]
    assert all(": DRIFT" in v for v in verdicts[1:])
    assert all((r.with_suffix(".html")).stat().st_size > 10_000 for r in reports)


def test_the_drifted_days_ask_for_a_retrain_and_the_decision_is_printed(demo_run):
    data_dir, _, stdout, _ = demo_run
    registry = json.loads((data_dir / "models" / "registry.json").read_text())
    retrain = [line.strip() for line in stdout.splitlines() if line.strip().startswith("retrain")]
    assert len(retrain) == 1 and "feature drift share" in retrain[0]
    promotion = next(line for line in stdout.splitlines() if line.strip().startswith("promotion"))
    decision = registry["versions"][1]["decision"]
    assert f"challenger v0002: {decision['action'].upper()}" in promotion
    assert f"champion {registry['champion']};" in promotion and decision["reason"] in promotion


def test_the_summary_names_every_layer_and_where_it_lives(demo_run):
    data_dir, home, stdout, _ = demo_run
    for word in (
        "raw",
        "lake",
        "warehouse",
        "features",
        "model",
        "drift",
        "scores",
        str(data_dir),
        str(home),
    ):
        assert word in stdout
    runs = list((home / "history" / "runs").glob("*.db"))
    assert runs, "the demo's runs are recorded in DAGSTER_HOME"


def test_the_runs_belong_to_the_platforms_jobs_in_its_code_location(demo_run):
    """So each job's page and the Overview timeline of `dagster dev` list them (not ad-hoc runs)."""
    _, home, _, _ = demo_run
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert len(runs) > 50
    assert {run.job_name for run in runs} == {"ingest_log_file", "build_day", "train_model", "monitor_day"}
    assert {run.tags.get(".dagster/repository") for run in runs} == {"__repository__@platform_assets"}
    assert {run.remote_job_origin.location_name for run in runs} == {"platform_assets"}


def test_progress_is_shown_per_stage_without_dagster_noise(demo_run):
    _, _, stdout, stderr = demo_run
    for stage in (
        r"generate sample logs: 46/46 files in \d+\.\d s",
        r"ingest landed files: 43/43 files in \d+\.\d s",  # the 42 normal days and the real log
        r"build marts and features of landed files: \d+/\d+ days in \d+\.\d s",
        r"train the model: in \d+\.\d s",
        r"ingest the drifted days: 4/4 files in \d+\.\d s",
        r"monitor the newest days: 5/5 days in \d+\.\d s",
    ):
        assert re.search(f"^{stage}$", stdout, re.MULTILINE), stage
    for noise in ("Warning", "dagster - INFO", "dagster - DEBUG", "Traceback"):
        assert noise not in stdout + stderr


def test_the_printed_ui_command_works_from_any_directory(demo_run, tmp_path):
    """The last line: environment and the absolute ``platform-assets ui``; checked by validating the
    code location it serves with the same environment from another directory (the UI itself is
    driven by test_ui_browser_e2e.py)."""
    data_dir, home, stdout, _ = demo_run
    words = shlex.split(stdout.strip().splitlines()[-1])
    env = dict(word.split("=", 1) for word in words[:3])
    assert {k: env[k] for k in ("PLATFORM_DATA_DIR", "DAGSTER_HOME")} == {
        "PLATFORM_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(home),
    }
    # the partitions start at the demo's first day, so the UI shows its days filled
    assert dt.date.fromisoformat(env["PLATFORM_PARTITIONS_START"]) <= dt.datetime.now(dt.UTC).date()
    executable, command = words[3:]
    assert Path(executable).is_absolute() and Path(executable).exists() and command == "ui"
    proc = subprocess.run(
        [str(Path(executable).with_name("dagster")), "definitions", "validate", "-m", "platform_assets"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "All code locations passed validation" in proc.stderr + proc.stdout


def test_generate_logs_command_of_the_readme(tmp_path):
    out = tmp_path / "logs"
    args = [
        "generate-logs",
        "--out",
        str(out),
        "--start-date",
        "2026-11-01",
        "--days",
        "2",
        "--events-per-day",
        "500",
        "--format",
        "combined",
        "--seed",
        "1",
        "--gzip",
    ]
    proc = subprocess.run(CLI + args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["access-2026-11-01.log.gz", "access-2026-11-02.log.gz"]
    assert all(_count_lines(out / f) > 400 for f in files)


def test_definitions_validate_command_of_the_readme(tmp_path):
    env = {**os.environ, "PLATFORM_DATA_DIR": str(tmp_path / "data")}
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "platform_assets"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "All code locations passed validation" in proc.stderr + proc.stdout
