"""Progress of long commands: a live bar per stage on a terminal, one line per stage otherwise.

On a terminal (rich), each stage shows its count and elapsed time while it runs, so minutes of
work never look hung. Piped or redirected, the output stays plain for logs and scripts: each
stage prints one line when it ends, ``<stage>: <done>/<total> <unit> in <seconds> s``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class Stage:
    """One stage's counter; ``advance`` as its items get done."""

    def __init__(self, progress: Progress | None, task: int | None, total: int | None) -> None:
        self._progress, self._task, self.total, self.done = progress, task, total, 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)


class StageProgress:
    """Announces lines and times stages; live (rich) when ``stream`` is a terminal."""

    def __init__(
        self, stream: TextIO | None = None, live: bool | None = None, stage_lines: bool = True
    ) -> None:
        self.stream = stream or sys.stdout
        self.stage_lines = stage_lines
        self.live = self.stream.isatty() if live is None else live
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True) if self.live else None

    def say(self, line: str) -> None:
        if self.console is not None:
            self.console.print(line, markup=False)
        else:
            print(line, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Stage]:
        """Time one stage of ``total`` items (None: a single step without a count)."""
        started = time.perf_counter()
        if self.console is None:
            stage = Stage(None, None, total)
            yield stage
            if self.stage_lines:
                count = "" if total is None else f"{stage.done}/{total} {unit} ".replace("  ", " ")
                self.say(f"{name}: {count}in {time.perf_counter() - started:.1f} s")
            return
        columns = [SpinnerColumn(finished_text="done"), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn(), TextColumn(unit)]
        with Progress(*columns, TimeElapsedColumn(), console=self.console) as progress:
            task = progress.add_task(name, total=total if total is not None else 1)
            stage = Stage(progress, task, total)
            yield stage
            if total is None:
                progress.update(task, completed=1)
