"""platform_assets: web traffic logs to lake, marts, features, models and drift reports, on Dagster."""

from platform_assets.definitions import defs

__all__ = ["defs"]
