"""Features layer: learning tables built from the warehouse, one SQL file each in ``sql/features``."""

from __future__ import annotations

from platform_assets.layers.sql_assets import build_sql_asset
from platform_assets.sql import load_folder

feature_assets = [build_sql_asset(d, "features", {"duckdb", "sql"}) for d in load_folder("features")]
