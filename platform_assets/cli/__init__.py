"""The ``platform-assets`` command line (``commands``) and the demo it runs (``demo``)."""

from platform_assets.cli.commands import main

__all__ = ["main"]
