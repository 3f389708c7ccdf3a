"""Atomic file publication: write beside the target, then ``os.replace`` it into place.

A reader sees the old file or the new one, never half of one; a killed run leaves only a
temporary name behind (dot-prefixed, ignored by every reader and cleaned on the next write).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same directory, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text variant of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def staging_dir(parent: Path, prefix: str = "stage") -> Iterator[Path]:
    """A private temporary directory under ``parent``, removed afterwards whatever happens.

    Files written there are published with :func:`publish`; ``parent`` must be on the same file
    system as the destination so that the rename is atomic.
    """
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def publish(src: Path, dest: Path) -> None:
    """Move a finished file into place atomically, replacing any previous version."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
