"""Feature checks on the built generated days: the class balance matches the sessions it comes
from, and planted leakage or a flattened column is caught (evaluated on an edited copy)."""

import shutil

import duckdb
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.layers.features.checks import CHECKS
from platform_assets.lib.layout import DataLayout
from platform_assets.settings import PlatformSettings
from platform_assets_tests.checks_support import check_run, values

BY_NAME = {c.spec.name: c for c in CHECKS}


def test_class_balance_is_recorded_from_the_days_sessions(built_platform):
    day = built_platform.days[2]
    con = duckdb.connect(str(built_platform.layout.warehouse_db), read_only=True)
    rows, positives = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE converted) FROM sessions "
        "WHERE event_date = ? AND NOT is_bot",
        [day],
    ).fetchone()
    con.close()
    with check_run(built_platform.defs, built_platform.instance) as run:
        balance = BY_NAME["class_balance"].evaluate(run, day)
        leakage = BY_NAME["no_label_leakage"].evaluate(run, day)
    assert balance.passed and 0 < positives < rows
    found = values(balance)
    assert (found["rows"], found["positives"], found["negatives"]) == (rows, positives, rows - positives)
    assert found["positive_rate"] == pytest.approx(positives / rows)
    assert leakage.passed and values(leakage)["leaking_rows"] == 0


def test_planted_leakage_and_a_flattened_column_are_caught(built_platform, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built_platform.root, root)
    day = built_platform.days[3]
    con = duckdb.connect(str(DataLayout(root).warehouse_db))
    first, second = (
        r[0]
        for r in con.execute(
            "SELECT session_id FROM session_features WHERE event_date = ? ORDER BY session_id LIMIT 2", [day]
        ).fetchall()
    )
    # One session counts a session that had not ended yet; another is dated after its own start.
    con.execute(
        "UPDATE session_features SET prior_sessions_28d = prior_sessions_28d + 1 "
        "WHERE event_date = ? AND session_id = ?",
        [day, first],
    )
    con.execute(
        "UPDATE session_features SET days_since_prior_session = -0.25 "
        "WHERE event_date = ? AND session_id = ?",
        [day, second],
    )
    con.execute("UPDATE session_features SET device = 'desktop' WHERE event_date = ?", [day])
    con.close()

    with check_run(build_definitions(PlatformSettings(data_dir=root)), built_platform.instance) as run:
        leakage = BY_NAME["no_label_leakage"].evaluate(run, day)
        constant = BY_NAME["no_constant_columns"].evaluate(run, day)
    assert not leakage.passed
    found = values(leakage)
    assert found["leaking_rows"] == 2
    assert first in found["sample"] and second in found["sample"]
    assert "prior_sessions_28d counts sessions not ended before the start" in found["sample"]
    assert not constant.passed
    assert values(constant)["constant_columns"] == ["device", "entry_event_type"]
    assert values(constant)["distinct_values"]["device"] == 1
