"""``dagster dev`` serves the whole asset graph on 127.0.0.1 (webserver + daemon, real processes)."""

import pytest

from platform_assets_tests.dagster_dev import dagster_dev, graphql
from platform_assets_tests.test_defs import EXPECTED_GRAPH

pytestmark = pytest.mark.e2e


def test_dagster_dev_shows_every_asset_of_the_graph(tmp_path):
    with dagster_dev(tmp_path, {"PLATFORM_DATA_DIR": str(tmp_path / "data")}) as server:
        nodes = graphql(
            server.port, "{ assetNodes { assetKey { path } groupName hasAssetChecks description } }"
        )
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes["data"]["assetNodes"]}
    assert set(by_key) == set(EXPECTED_GRAPH)
    assert all(by_key[k]["groupName"] == v["group"] for k, v in EXPECTED_GRAPH.items())
    assert by_key["lake/events"]["hasAssetChecks"] and by_key["models/conversion_model"]["hasAssetChecks"]
    assert all(n["description"] for n in by_key.values())
