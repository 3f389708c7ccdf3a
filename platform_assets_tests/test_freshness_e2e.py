"""Freshness policies, evaluated by the real daemon under ``dagster dev`` and read over GraphQL:
a fresh asset passes, one whose window has elapsed fails, and every asset shows its policy."""

import time

import pytest

from platform_assets_tests.dagster_dev import dagster_dev, graphql
from platform_assets_tests.test_defs import EXPECTED_GRAPH

pytestmark = pytest.mark.e2e

DAILY_WINDOW_SECONDS = 63  # PLATFORM_FRESHNESS_DAILY_HOURS=0.0175 (Dagster's minimum is 60 s)
STALE = ["warehouse", "daily_traffic"]  # daily window: stale 63 s after its materialization
FRESH = ["models", "conversion_model"]  # model window: 8 days


def _report_materialization(port: int, key: list[str], partition: str | None) -> None:
    partitions = f', partitionKeys: ["{partition}"]' if partition else ""
    answer = graphql(
        port,
        "mutation { reportRunlessAssetEvents(eventParams: {eventType: ASSET_MATERIALIZATION, "
        f'assetKey: {{path: {list(key)!r}}}{partitions}, description: "freshness test"}}) {{ '
        "__typename ... on PythonError { message } } }".replace("'", '"'),
    )
    assert answer["data"]["reportRunlessAssetEvents"]["__typename"] == "ReportRunlessAssetEventsSuccess", (
        answer
    )


def _freshness(port: int) -> dict[str, dict]:
    nodes = graphql(
        port,
        "{ assetNodes { assetKey { path } freshnessStatusInfo { freshnessStatus } internalFreshnessPolicy "
        "{ ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } } } }",
    )["data"]["assetNodes"]
    return {
        "/".join(n["assetKey"]["path"]): {
            "status": (n["freshnessStatusInfo"] or {}).get("freshnessStatus"),
            "policy": n["internalFreshnessPolicy"],
        }
        for n in nodes
    }


def _wait_for(port: int, wanted: dict[str, str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        state = _freshness(port)
        if all(state[key]["status"] == status for key, status in wanted.items()):
            return state
        if time.monotonic() > deadline:
            seen = {key: state[key]["status"] for key in wanted}
            pytest.fail(f"freshness statuses not reached within {timeout:.0f} s: wanted {wanted}, saw {seen}")
        time.sleep(2)


def test_daemon_marks_a_stale_asset_failing_and_a_fresh_one_passing(tmp_path):
    env = {
        "PLATFORM_DATA_DIR": str(tmp_path / "data"),
        "PLATFORM_FRESHNESS_DAILY_HOURS": str(DAILY_WINDOW_SECONDS / 3600),
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "3",
        "PLATFORM_SENSOR_INTERVAL_SECONDS": "3600",  # nothing lands; keep the sensors quiet
    }
    with dagster_dev(tmp_path, env) as server:
        state = _freshness(server.port)
        # every asset of the graph but the experiments' carries a policy the UI can show
        assert set(state) == set(EXPECTED_GRAPH)
        for key, entry in state.items():
            if key.startswith("experiments/"):  # served traffic: no window (test_freshness.py)
                assert not entry["policy"], key
                continue
            assert entry["policy"] and entry["policy"]["failWindowSeconds"] > 0, key
        assert state["warehouse/daily_traffic"]["policy"]["failWindowSeconds"] == DAILY_WINDOW_SECONDS
        assert state["models/conversion_model"]["policy"]["failWindowSeconds"] == 8 * 24 * 3600

        started = time.monotonic()
        _report_materialization(server.port, STALE, "2025-03-01")
        _report_materialization(server.port, FRESH, None)
        _wait_for(
            server.port, {"warehouse/daily_traffic": "HEALTHY", "models/conversion_model": "HEALTHY"}, 60
        )
        assert time.monotonic() - started < DAILY_WINDOW_SECONDS, "too slow to see the fresh state first"

        state = _wait_for(server.port, {"warehouse/daily_traffic": "DEGRADED"}, DAILY_WINDOW_SECONDS + 60)
        assert time.monotonic() - started >= DAILY_WINDOW_SECONDS  # not before its window elapsed
        assert state["models/conversion_model"]["status"] == "HEALTHY"
        # never materialized: no claim of freshness
        assert state["warehouse/funnel"]["status"] != "HEALTHY"
