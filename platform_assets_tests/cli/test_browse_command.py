"""The ``dagster dev`` command the demo prints last works as printed, from any directory."""

import shlex
import sys
from pathlib import Path

from platform_assets.cli.demo import browse_command


def test_it_names_the_environment_the_absolute_dagster_and_the_module(tmp_path):
    data, home = tmp_path / "my data", tmp_path / "home"
    words = shlex.split(browse_command(data, home))
    assert words[:2] == [f"PLATFORM_DATA_DIR={data}", f"DAGSTER_HOME={home}"]
    assert words[2] == str(Path(sys.executable).with_name("dagster")) and Path(words[2]).exists()
    assert words[3:] == ["dev", "-m", "platform_assets", "--host", "127.0.0.1", "--port", "3000"]


def test_it_carries_the_first_partition_and_a_report_address_other_than_the_default(tmp_path):
    words = shlex.split(browse_command(tmp_path, tmp_path / "home", "2026-10-22", "http://127.0.0.1:3911"))
    assert words[2:4] == [
        "PLATFORM_PARTITIONS_START=2026-10-22",
        "PLATFORM_REPORTS_URL=http://127.0.0.1:3911",
    ]
