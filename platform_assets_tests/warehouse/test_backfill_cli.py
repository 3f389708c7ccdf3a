"""A date-range backfill from the CLI: ``dagster asset materialize --partition-range`` builds every
day of the range in one run (``BackfillPolicy.single_run``), each day with exactly its own events."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib.layout import DataLayout
from platform_assets.lib.log_generator import generate_logs

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FIRST = dt.date(2025, 3, 1)
DAYS = 3


def _events_per_day(files: list[Path]) -> Counter[str]:
    """Counted from the JSON text itself, without the platform's parser."""
    days: Counter[str] = Counter()
    for path in files:
        for line in path.read_text().splitlines():
            stamp = dt.datetime.fromisoformat(json.loads(line)["ts"].replace("Z", "+00:00"))
            days[stamp.astimezone(dt.UTC).date().isoformat()] += 1
    return days


def test_partition_range_backfill_builds_each_day_in_one_run(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    generated = generate_logs(layout.landing, FIRST, DAYS, 400, fmt="jsonl", seed=5, malformed_rate=0.0)
    files = [Path(g.path) for g in generated]
    engine = DuckDBEngine(data_dir=str(layout.root), memory_limit="1GB", threads=2)
    for path in files:
        engine.ingest_log_file(str(path), path.name, path.stem)
    expected = _events_per_day(files)
    in_range = {
        d: n for d, n in expected.items() if FIRST.isoformat() <= d < (FIRST + dt.timedelta(DAYS)).isoformat()
    }
    assert len(in_range) == DAYS

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "platform_assets" / "deploy" / "instance.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PLATFORM_DATA_DIR": str(layout.root)}
    last = (FIRST + dt.timedelta(DAYS - 1)).isoformat()
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset",
        "materialize",
        "-m",
        "platform_assets",
        "--select",
        "group:warehouse or group:features",
        "--partition-range",
        f"{FIRST.isoformat()}...{last}",
    ]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]

    with duckdb.connect(str(layout.warehouse_db), read_only=True) as con:
        built = dict(
            con.execute(
                "SELECT CAST(event_date AS VARCHAR), sum(requests) FROM daily_traffic GROUP BY 1"
            ).fetchall()
        )
        features = dict(
            con.execute(
                "SELECT CAST(event_date AS VARCHAR), count(*) FROM session_features GROUP BY 1"
            ).fetchall()
        )
    assert built == in_range
    assert set(features) == set(in_range)

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        for key in (["warehouse", "daily_traffic"], ["features", "session_features"]):
            records = instance.fetch_materializations(dg.AssetKey(key), limit=100).records
            assert sorted(r.partition_key for r in records) == sorted(in_range), key
            assert len({r.run_id for r in records}) == 1, f"{key}: the range ran as more than one run"
    finally:
        instance.dispose()
