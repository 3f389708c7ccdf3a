"""The case runner shared by every case: each measurement runs in fresh worker processes.

A :class:`Variant` names a task and its arguments; the runner resolves the arguments (cached
log files, prepared lakes), runs the task ``repeats`` times in new processes, and keeps the
seconds the worker timed and the peak RSS the kernel reports for the process (``os.wait4``).
Identical variants of different cases are measured once per run. A time budget per variant
cuts the repeats of slow ones; a watchdog kills a worker above the memory or time limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.data import Dataset, LogFile, load_files

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FileOf:
    """Argument: file ``index`` of a dataset."""

    dataset: Dataset
    index: int = 0


@dataclass(frozen=True)
class FilesOf:
    """Argument: files ``start``..``stop - 1`` of a dataset."""

    dataset: Dataset
    start: int
    stop: int


@dataclass(frozen=True)
class Prepared:
    """Argument: what a preparation task returned (run once per run, its data kept)."""

    task: str
    args: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Variant:
    """One thing to measure: a row of the results table."""

    name: str
    task: str
    args: tuple[tuple[str, Any], ...] = ()
    input: str = ""
    max_runs: int | None = None
    fallback: Variant | None = None  # measured instead when the worker exceeds the memory limit
    note: str = ""


@dataclass
class Measurement:
    variant: Variant
    runs: list[dict] = field(default_factory=list)
    planned: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.runs) and self.error is None

    def values(self, key: str) -> list[float]:
        return [float(r[key]) for r in self.runs if r.get(key) is not None]

    def median(self, key: str = "seconds") -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None

    def first(self, key: str) -> Any:
        return self.runs[0].get(key) if self.runs else None

    @property
    def peak_rss_mb(self) -> float | None:
        values = self.values("rss_mb")
        return max(values) if values else None


class PreparationError(RuntimeError):
    """A shared input could not be prepared."""


class Runner:
    def __init__(
        self,
        work_dir: Path,
        cache_dir: Path,
        repeats: int = 3,
        budget_s: float = 300.0,
        max_rss_mb: float = 12_000.0,
        timeout_s: float = 1800.0,
        say: Callable[[str], None] = print,
    ) -> None:
        self.work_dir, self.cache_dir = work_dir, cache_dir
        self.repeats, self.budget_s = repeats, budget_s
        self.max_rss_mb, self.timeout_s, self.say = max_rss_mb, timeout_s, say
        self._measured: dict[Variant, Measurement] = {}
        self._prepared: dict[Prepared, dict] = {}
        self._files: dict[Dataset, list[LogFile]] = {}
        self._count = 0
        self.loads: list[float] = []  # 1-minute load average as each worker starts
        self.generation_s = 0.0  # spent generating inputs missing from the cache

    # -- inputs -----------------------------------------------------------------------------------

    def files(self, dataset: Dataset) -> list[LogFile]:
        if dataset not in self._files:
            started = time.perf_counter()
            self._files[dataset] = load_files(dataset, self.cache_dir, self.say)
            self.generation_s += time.perf_counter() - started
        return self._files[dataset]

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, FileOf):
            return asdict(self.files(value.dataset)[value.index])
        if isinstance(value, FilesOf):
            return [asdict(f) for f in self.files(value.dataset)[value.start : value.stop]]
        if isinstance(value, Prepared):
            return self.prepare(value)
        return value

    def prepare(self, prepared: Prepared) -> dict:
        if prepared not in self._prepared:
            self._count += 1
            run_dir = self.work_dir / "prep" / f"{self._count:02d}-{prepared.task}"
            self.say(f"  preparing {prepared.task} ...")
            args = {k: self._resolve(v) for k, v in prepared.args}
            outcome = self._spawn(prepared.task, args, run_dir, keep=True)
            if "error" in outcome:
                raise PreparationError(f"{prepared.task}: {outcome['error']}")
            self.say(f"  prepared in {outcome['seconds']:.1f} s")
            self._prepared[prepared] = outcome
        return self._prepared[prepared]

    # -- measuring --------------------------------------------------------------------------------

    def measure(self, variant: Variant) -> Measurement:
        """Run ``variant`` (at most ``repeats`` times, within the budget); reuse an earlier result."""
        if variant in self._measured:
            return self._measured[variant]
        self._count += 1
        label = f"{variant.name} [{variant.input}]" if variant.input else variant.name
        planned = min(self.repeats, variant.max_runs or self.repeats)
        measurement = Measurement(variant, planned=planned)
        if variant.note:
            measurement.notes.append(variant.note)
        try:
            args = {k: self._resolve(v) for k, v in variant.args}
        except PreparationError as exc:
            measurement.error = str(exc)
            args = None
        for index in range(planned if args is not None else 0):
            spent = sum(measurement.values("seconds"))
            if measurement.runs and spent + spent / len(measurement.runs) > self.budget_s:
                measurement.notes.append(
                    f"{len(measurement.runs)} of {planned} runs: time budget {self.budget_s:.0f} s per row"
                )
                break
            run_dir = self.work_dir / "runs" / f"{self._count:03d}-{variant.task}-{index}"
            outcome = self._spawn(variant.task, args, run_dir)
            if "error" in outcome:
                measurement.error = outcome["error"]
                break
            measurement.runs.append(outcome)
            self.say(
                f"  {label}: run {index + 1}/{planned} {outcome['seconds']:.2f} s, "
                f"peak RSS {outcome['rss_mb']:.0f} MB"
            )
        if measurement.error:
            self.say(f"  {label}: FAILED {measurement.error.splitlines()[0]}")
            if variant.fallback and measurement.error.startswith("killed: memory"):
                fallback = self.measure(variant.fallback)
                measurement = replace(
                    fallback,
                    variant=variant,
                    notes=[*fallback.notes, f"full size {measurement.error}; measured on the smaller file"],
                )
        self._measured[variant] = measurement
        return measurement

    def _spawn(self, task: str, args: dict, run_dir: Path, keep: bool = False) -> dict:
        """One worker process: its result plus ``rss_mb`` (peak, from the kernel), or ``error``."""
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        job = run_dir / "job.json"
        result = run_dir / "result.json"
        data_dir = run_dir / "data"
        job.write_text(
            json.dumps({"task": task, "args": {**args, "data_dir": str(data_dir)}, "result": str(result)})
        )
        env = {
            **os.environ,
            "OMP_WAIT_POLICY": "passive",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        }
        killed = None
        self.loads.append(os.getloadavg()[0])
        with open(run_dir / "worker.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.worker", str(job)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
            started = time.monotonic()
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if killed is None:
                    rss = _rss_mb(proc.pid)
                    if rss > self.max_rss_mb:
                        killed = f"killed: memory above {self.max_rss_mb:.0f} MB"
                    elif time.monotonic() - started > self.timeout_s:
                        killed = f"killed: slower than the {self.timeout_s:.0f} s time limit"
                    if killed:
                        os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(0.1)
        outcome = json.loads(result.read_text()) if result.exists() else {}
        outcome["rss_mb"] = usage.ru_maxrss / 1024
        if killed or proc.returncode or "seconds" not in outcome:
            reason = killed or outcome.get("error") or f"worker exited with {proc.returncode}"
            log_tail = (run_dir / "worker.log").read_text(errors="replace")[-2000:]
            outcome = {"error": reason, "log": outcome.get("traceback") or log_tail}
            self.say(f"    worker failed ({reason}); kept {run_dir}")
            return outcome
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        return outcome


def datasets(value: Any) -> list[Dataset]:
    """Every dataset a variant (or argument) reads, its fallback's and preparations' included."""
    if isinstance(value, FileOf | FilesOf):
        return [value.dataset]
    if isinstance(value, Variant):
        return datasets(value.args) + (datasets(value.fallback) if value.fallback else [])
    if isinstance(value, Prepared):
        return datasets(value.args)
    if isinstance(value, tuple):
        return [d for item in value for d in datasets(item)]
    return []


def _rss_mb(pid: int) -> float:
    """Current resident set of one process in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
