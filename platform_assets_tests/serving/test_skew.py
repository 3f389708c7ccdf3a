"""No train/serve skew: every session of a built day, asked of the service as an application would
ask it at the session's start, gets the batch feature row and the batch score of that session."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from platform_assets.lib.ml.feature_spec import FEATURE_SPEC
from platform_assets.serving.app import create_app

SMALL_DATA = {"ops": {"models__conversion_model": {"config": {"min_rows": 100}}}}


@pytest.fixture(scope="module")
def scored_day(tmp_path_factory, built_platform):
    """A copy of the built days with a champion and the last day scored in batch."""
    import shutil

    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.settings import PlatformSettings

    root = tmp_path_factory.mktemp("skew") / "platform"
    shutil.copytree(built_platform.root, root)
    defs = build_definitions(PlatformSettings(data_dir=root))
    day = built_platform.days[-1]
    with dg.instance_for_test() as instance:
        assert (
            defs.resolve_job_def("train_model")
            .execute_in_process(instance=instance, run_config=SMALL_DATA)
            .success
        )
        assert (
            defs.resolve_job_def("monitor_day")
            .execute_in_process(partition_key=day, instance=instance)
            .success
        )
    return root, day


def _requests(root, day) -> pd.DataFrame:
    """Each batch session of the day with what the application knew at its start: the entry
    event's path (query string included), user agent and declared device, read from the lake."""
    import duckdb

    from platform_assets.lib.layout import DataLayout

    layout = DataLayout(root)
    files = [str(p) for p in layout.day_fragments(day)]
    con = duckdb.connect(str(layout.warehouse_db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""
        WITH entry AS (
            SELECT session_id, path, query_string, user_agent, device, ts,
                   row_number() OVER (PARTITION BY session_id ORDER BY ts, source_file, source_line) AS n
            FROM read_parquet({files!r})
        )
        SELECT f.*, p.probability, p.predicted_label, p.model_version, s.referrer AS raw_referrer,
               s.country AS raw_country, e.path, e.query_string, e.user_agent, e.device AS lake_device
        FROM session_features AS f
        JOIN session_predictions AS p USING (event_date, session_id)
        JOIN sessions AS s USING (event_date, session_id)
        JOIN entry AS e ON e.session_id = f.session_id AND e.n = 1
        WHERE f.event_date = CAST(? AS DATE)
        ORDER BY f.session_id
        """,
        [day],
    ).df()
    all_rows = con.execute("SELECT count(*) FROM session_features WHERE event_date = CAST(? AS DATE)", [day])
    assert len(rows) == all_rows.fetchone()[0]  # every session of the day is compared
    con.close()
    return rows


def test_served_features_and_scores_equal_the_batch_ones_for_every_session_of_a_day(scored_day):
    root, day = scored_day
    batch = _requests(root, day)
    assert len(batch) > 50 and batch["prior_sessions_28d"].gt(0).any()  # returning visitors too
    client = TestClient(create_app(root))
    assert client.get("/readyz").json()["store_day"] == day
    for row in batch.itertuples(index=False):
        path = row.path + (f"?{row.query_string}" if isinstance(row.query_string, str) else "")
        body = {
            "visitor_id": row.visitor_id,
            "time": row.session_start.isoformat() + "Z",
            "entry_path": path,
            "referrer": row.raw_referrer,
            "user_agent": row.user_agent,
            "device": row.lake_device if row.lake_device in ("desktop", "mobile", "tablet") else None,
            "country": row.raw_country,
        }
        answer = client.post("/predict", json=body)
        assert answer.status_code == 200, (body, answer.text)
        got = answer.json()
        expected = {c: _plain(getattr(row, c)) for c in FEATURE_SPEC.features}
        assert got["features"] == expected, row.session_id
        assert got["probability"] == row.probability, row.session_id
        assert got["label"] == row.predicted_label and got["model_version"] == row.model_version


def _plain(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
