"""Features layer: learning tables built from the warehouse, one SQL file each in ``sql/features``."""

import dagster as dg

from platform_assets.layers.common.names import FEATURES_GROUP
from platform_assets.layers.common.sql_assets import build_sql_assets
from platform_assets.layers.features.visitor_history import visitor_history
from platform_assets.sql import load_folder

SESSION_FEATURES = dg.AssetKey([FEATURES_GROUP, "session_features"])

feature_assets = [
    build_sql_assets(load_folder("features"), FEATURES_GROUP, {"duckdb", "spark", "sql"}),
    visitor_history,  # the online feature store, cut from the same SQL (serving/feature_sql.py)
]
