"""Benchmark inputs: log files from the project's generator, cached by (seed, size, format)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

START = "2025-03-01"  # a fixed past day, so every daily partition exists
SEED = 1


@dataclass(frozen=True)
class LogFile:
    path: str
    day: str
    lines: int
    bytes: int


@dataclass(frozen=True)
class Dataset:
    """``days`` generated files of ``events_per_day`` lines, one format, no malformed lines."""

    fmt: str
    gzip: bool
    events_per_day: int
    days: int = 1
    seed: int = SEED
    start: str = START

    @property
    def label(self) -> str:
        return ("jsonl" if self.fmt == "jsonl" else "combined") + (".gz" if self.gzip else "")

    @property
    def key(self) -> str:
        return f"{self.label}-{self.events_per_day}x{self.days}d-seed{self.seed}-{self.start}"

    def day(self, index: int) -> str:
        return (dt.date.fromisoformat(self.start) + dt.timedelta(days=index)).isoformat()


def load_files(dataset: Dataset, cache_dir: Path, say: Callable[[str], None] = print) -> list[LogFile]:
    """The dataset's files, generated into ``cache_dir/<key>`` on first use and reused afterwards."""
    folder = cache_dir / dataset.key
    manifest = folder / "manifest.json"
    if not manifest.exists():
        _generate(dataset, folder, say)
    entries = json.loads(manifest.read_text())["files"]
    return [LogFile(**{**e, "path": str(folder / e["path"])}) for e in entries]


def _generate(dataset: Dataset, folder: Path, say: Callable[[str], None]) -> None:
    from platform_assets.lib.log_generator import generate_logs

    say(f"generating {dataset.key} into {folder.parent} (cached for later runs)")
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    generated = generate_logs(
        staging,
        dataset.start,
        dataset.days,
        dataset.events_per_day,
        fmt=dataset.fmt,
        seed=dataset.seed,
        gzip=dataset.gzip,
        malformed_rate=0.0,  # the pandas baselines cannot skip broken lines
    )
    files = [LogFile(g.path.name, g.date.isoformat(), g.lines, g.path.stat().st_size) for g in generated]
    info = {"dataset": asdict(dataset), "seconds": time.perf_counter() - started}
    (staging / "manifest.json").write_text(
        json.dumps({**info, "files": [asdict(f) for f in files]}, indent=1)
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    say(f"  generated {sum(f.lines for f in files):,} lines in {info['seconds']:.1f} s")
