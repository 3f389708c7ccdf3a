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
