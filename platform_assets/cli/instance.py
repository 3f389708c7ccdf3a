"""The Dagster instance every command uses: ``$DAGSTER_HOME``, else one under the data directory.

The demo, ``register-files`` and ``models`` record in the same place, so ``dagster dev`` with the
``DAGSTER_HOME`` the demo prints shows all of it, and no command needs ``DAGSTER_HOME`` set.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import dagster as dg


def dagster_home(data_dir: Path) -> Path:
    """``$DAGSTER_HOME`` when set, else ``<data_dir>/dagster_home``."""
    return Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").expanduser().resolve()


def instance_home(data_dir: Path) -> Path:
    """The instance's home, with ``platform_assets/deploy/instance.yaml`` (telemetry off, one
    warehouse writer at a time) as its ``dagster.yaml`` when it has none yet."""
    home = dagster_home(data_dir)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(
            resources.files("platform_assets").joinpath("deploy", "instance.yaml").read_text("utf-8")
        )
    return home


def platform_instance(data_dir: Path) -> tuple[dg.DagsterInstance, Path]:
    """The persistent instance and its home (:func:`instance_home`)."""
    home = instance_home(data_dir)
    return dg.DagsterInstance.from_config(str(home)), home
