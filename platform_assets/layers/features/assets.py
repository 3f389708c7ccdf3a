"""Features layer: learning tables built from the warehouse, one SQL file each in ``sql/features``."""

import dagster as dg

from platform_assets.layers.sql_assets import build_sql_asset
from platform_assets.sql import load_folder

SESSION_FEATURES = dg.AssetKey(["features", "session_features"])

feature_assets = [build_sql_asset(d, "features", {"duckdb", "sql"}) for d in load_folder("features")]
