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


def _expected(root, day) -> pd.DataFrame:
    """The batch's feature row and score of every session of the day, by session id."""
    import duckdb

    from platform_assets.lib.layout import DataLayout

    con = duckdb.connect(str(DataLayout(root).warehouse_db), read_only=True)
    rows = con.execute(
        "SELECT f.*, p.probability, p.predicted_label, p.model_version FROM session_features AS f "
        "JOIN session_predictions AS p USING (event_date, session_id) WHERE f.event_date = CAST(? AS DATE)",
        [day],
    ).df()
    all_rows = con.execute("SELECT count(*) FROM session_features WHERE event_date = CAST(? AS DATE)", [day])
    assert len(rows) == all_rows.fetchone()[0]  # every session of the day is compared
    con.close()
    return rows.set_index("session_id")


def test_served_features_and_scores_equal_the_batch_ones_for_every_session_of_a_day(scored_day):
    """The requests are what ``simulate-traffic`` sends (serving/replay.py): the entry event's path
    with its query string, user agent and declared device from the lake, referrer, country."""
    from platform_assets.lib.layout import DataLayout
    from platform_assets.serving.replay import session_requests

    root, day = scored_day
    batch = _expected(root, day)
    requests = session_requests(DataLayout(root), day)
    assert len(batch) > 50 and batch["prior_sessions_28d"].gt(0).any()  # returning visitors too
    assert sorted(r["session_id"] for r in requests) == sorted(batch.index)
    client = TestClient(create_app(root))
    assert client.get("/readyz").json()["store_day"] == day
    for body in requests:
        answer = client.post("/predict", json={k: v for k, v in body.items() if v is not None})
        assert answer.status_code == 200, (body, answer.text)
        got, row = answer.json(), batch.loc[body["session_id"]]
        expected = {c: _plain(row[c]) for c in FEATURE_SPEC.features}
        assert got["features"] == expected, body["session_id"]
        assert got["probability"] == row["probability"], body["session_id"]
        assert got["label"] == row["predicted_label"] and got["model_version"] == row["model_version"]


@pytest.mark.parametrize("batch_size", [7, 64])
def test_answered_in_batches_as_under_load_the_features_are_equal_and_the_scores_equal_to_rounding(
    scored_day, batch_size
):
    """Under load the micro-batcher answers several requests with one query and one predict per
    model: the features are still the batch's exactly; a probability may differ from the batch
    table's by rounding only (the linear algebra sums in another order for another number of rows,
    in the batch table too: a last-bit difference of the logit, a few ulps of a small probability)."""
    from platform_assets.lib.layout import DataLayout
    from platform_assets.serving.answers import Answerer, NoDecisions
    from platform_assets.serving.online_store import OnlineStore, store_root
    from platform_assets.serving.replay import session_requests
    from platform_assets.serving.schema import PredictRequest
    from platform_assets.serving.traffic import TrafficSplit

    root, day = scored_day
    batch = _expected(root, day)
    requests = [
        PredictRequest(**{k: v for k, v in body.items() if v is not None})
        for body in session_requests(DataLayout(root), day)
    ]
    answerer = Answerer(TrafficSplit(root / "models"), OnlineStore(store_root(root)), NoDecisions())
    answers = []
    for start in range(0, len(requests), batch_size):
        answers += answerer.answer(requests[start : start + batch_size])
    assert len(answers) == len(requests) == len(batch)
    for request, answer in zip(requests, answers, strict=True):
        row = batch.loc[request.session_id]
        assert answer.features == {c: _plain(row[c]) for c in FEATURE_SPEC.features}, request.session_id
        assert answer.probability == pytest.approx(row["probability"], rel=1e-14, abs=0), request.session_id
        assert answer.model_version == row["model_version"]


def _plain(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
