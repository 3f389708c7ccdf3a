"""Atomic file publication: write beside the target, then ``os.replace`` it into place.

A reader sees the old file or the new one, never half of one. A killed run leaves only a temporary
name behind (dot-prefixed, ignored by every reader), and the next write of the same kind removes
it: every temporary file or staging folder is held under an exclusive ``flock`` by the process
writing it, the kernel drops that lock when the process dies, so a temporary name whose lock can be
taken belongs to nobody alive and is deleted (:func:`remove_abandoned`). A live writer's files are
never touched, even by another process writing the same target at the same moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _held(fd: int) -> bool:
    """Lock ``fd`` (blocking) and say whether its file still has a name: a cleaner may have
    removed it between its creation and this lock, and then the caller starts again."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    return os.fstat(fd).st_nlink > 0


def abandoned(parent: Path, pattern: str) -> Iterator[tuple[Path, int]]:
    """The entries of ``parent`` matching ``pattern`` that no living process holds, each with a
    descriptor holding its lock (closed when the caller asks for the next one): their writers died.
    Skips what is gone, a symlink, unreadable, still locked, or whose name was reused meanwhile."""
    if not parent.is_dir():
        return
    for path in sorted(parent.glob(pattern)):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone, a symlink (never ours), or unreadable: leave it
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                continue  # the name was reused meanwhile
            yield path, fd
        except OSError:  # its writer is alive, or the name is gone
            continue
        finally:
            os.close(fd)


def remove_abandoned(parent: Path, pattern: str) -> list[Path]:
    """Delete the entries of ``parent`` matching ``pattern`` (a glob of temporary names) that no
    living process holds (see the module docstring); return what was removed."""
    removed: list[Path] = []
    for path, _ in abandoned(parent, pattern):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same directory, fsync, rename); first remove the
    temporary files that killed writers of ``path`` left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(path.parent, f".{glob.escape(path.name)}.*.tmp")
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        if _held(fd):
            break
        os.close(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # still locked: no cleaner can take the file before this
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text variant of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def staging_dir(parent: Path, prefix: str = "stage") -> Iterator[Path]:
    """A private temporary directory ``parent/.<prefix>-*``, removed afterwards whatever happens;
    staging folders of the same prefix that killed processes left are removed first.

    Files written there are published with :func:`publish`; ``parent`` must be on the same file
    system as the destination so that the rename is atomic.
    """
    parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(parent, f".{glob.escape(prefix)}-*")
    while True:
        path = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=parent))
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        if _held(fd):
            break
        os.close(fd)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def publish(src: Path, dest: Path) -> None:
    """Move a finished file into place atomically, replacing any previous version."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry itself is flushed)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
