"""Warehouse layer: one asset per SQL file in ``sql/marts`` (a new mart is a new file)."""

from __future__ import annotations

from platform_assets.layers.common.names import WAREHOUSE_GROUP
from platform_assets.layers.common.sql_assets import build_sql_assets
from platform_assets.sql import load_folder

mart_assets = [build_sql_assets(load_folder("marts"), WAREHOUSE_GROUP, {"duckdb", "spark", "sql"})]
