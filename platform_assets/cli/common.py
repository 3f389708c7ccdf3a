"""What every ``platform-assets`` command shares: the one-line error, the help format, the
settings and data directory, and the aligned table the listings print."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platform_assets.settings import PlatformSettings


class CommandError(Exception):
    """A problem the user can fix: printed as one line (what is wrong and what to do), exit 1."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default in ``--help``, except ``None``: those options say in words what they do."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def cli_settings() -> PlatformSettings:
    from platform_assets.settings import load_settings

    try:
        return load_settings()
    except ValueError as error:
        raise CommandError(f"{error}; fix or unset that environment variable") from None


def existing_data_dir(settings: PlatformSettings) -> Path:
    """The data directory, which must exist for commands that read what the platform made."""
    if not settings.data_dir.is_dir():
        raise CommandError(
            f"no data directory at {settings.data_dir}; set PLATFORM_DATA_DIR to the platform's data "
            "directory (or run `platform-assets demo` to create one)"
        )
    return settings.data_dir


def aligned_table(rows: list[list[str]]) -> str:
    """Rows as columns aligned by two spaces (the last column unpadded), as docs/ml.md shows them."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    )
