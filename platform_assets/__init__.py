"""platform_assets: web traffic logs to lake, marts, features, models and drift reports, on Dagster.

``defs`` (the Dagster definitions) is loaded on first access, so ``dagster -m platform_assets``
finds it while the CLI and the pure-Python ``lib`` modules import without loading Dagster.
"""

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        from platform_assets.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
