"""``python -m benchmarks.worker JOB.json``: run one task, time its operation, write RESULT.json.

The parent reads the process's peak RSS from ``os.wait4``; the worker reports the wall seconds and
the CPU seconds (every thread of the process: DuckDB's included) of the operation, and what the
task returned. A failure is reported in the result file and exits non-zero.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    result_path = Path(job["result"])
    try:
        from benchmarks.tasks import TASKS

        steps = TASKS[job["task"]](**job["args"])
        operation = next(steps)
        started, cpu_started = time.perf_counter(), time.process_time()
        extra = operation() or {}
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        for _ in steps:  # the task's teardown
            pass
    except BaseException as exc:  # reported to the parent, which decides what to do
        result_path.write_text(
            json.dumps({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        )
        return 1
    result_path.write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, **extra}))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1])
    # The result is written: leave without the interpreter's teardown. pandas' to_parquet leaves a
    # native thread of pyarrow's behind, and about 1 exit in 30 then aborts in a C++ destructor
    # ("terminate called without an active exception", SIGABRT) after a successful measurement.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
