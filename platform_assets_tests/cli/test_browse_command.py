"""The command the demo prints last (``platform-assets ui``) works as printed, from any directory."""

import shlex
import subprocess
import sys
from pathlib import Path

from platform_assets.cli.demo import browse_command
from platform_assets.cli.ui import DEV_SUPERSEDED_FILTER, dagster_dev_argv


def test_it_names_the_environment_and_the_absolute_command(tmp_path):
    data, home = tmp_path / "my data", tmp_path / "home"
    words = shlex.split(browse_command(data, home))
    assert words[:2] == [f"PLATFORM_DATA_DIR={data}", f"DAGSTER_HOME={home}"]
    assert words[2] == str(Path(sys.executable).with_name("platform-assets")) and Path(words[2]).exists()
    assert words[3:] == ["ui"]


def test_it_carries_the_first_partition_and_a_report_address_other_than_the_default(tmp_path):
    words = shlex.split(browse_command(tmp_path, tmp_path / "home", "2026-10-22", "http://127.0.0.1:3911"))
    assert words[2:4] == [
        "PLATFORM_PARTITIONS_START=2026-10-22",
        "PLATFORM_REPORTS_URL=http://127.0.0.1:3911",
    ]


def test_the_ui_runs_dagster_dev_on_the_code_location_on_loopback():
    argv = dagster_dev_argv("127.0.0.1", 3000)
    assert argv[0] == sys.executable and argv[3:] == [
        "-m", "dagster", "dev", "-m", "platform_assets", "--host", "127.0.0.1", "--port", "3000",
    ]  # fmt: skip


def _warnings_shown(warning_filter: str, message: str) -> str:
    code = (
        "import warnings; from dagster import SupersessionWarning; "
        f"warnings.warn({message!r}, SupersessionWarning)"
    )
    done = subprocess.run(
        [sys.executable, "-W", warning_filter, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_only_dagsters_notice_that_dagster_dev_is_superseded_is_filtered():
    notice = "Function `dev_command` is superseded and its usage is discouraged. Use 'dg dev' instead."
    assert "SupersessionWarning" not in _warnings_shown(DEV_SUPERSEDED_FILTER, notice)
    other = "Function `asset_materialize_command` is superseded and its usage is discouraged."
    assert "SupersessionWarning" in _warnings_shown(DEV_SUPERSEDED_FILTER, other)
