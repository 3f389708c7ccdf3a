"""Run one platform job in this process, optionally SIGKILLing itself at a chosen file operation.

    python -m platform_assets_tests.faults.killable DATA_DIR JOB [--partition KEY ...] [--assets a/b,c/d]
        [--kill-at OP:NAME_PREFIX[:N]]

``--kill-at rename:.v`` sends SIGKILL to this process on the first ``os.rename`` whose source name
starts with ``.v`` (before the rename happens); ``replace:.registry.json.:2`` on the second matching
``os.replace``. A real SIGKILL: no ``finally`` block, no atexit handler, no flush runs, exactly as
when the kernel or an operator kills a run. Run configs are the small ones the model tests use.

Several ``--partition`` run one after the other in this process (``log_files`` keys are registered
first); each run's outcome is printed as ``RESULT {json}`` (success, failed checks, step errors),
and the process's peak RSS as ``PEAK_RSS_KB=n`` at the end.
"""

import argparse
import json
import os
import resource
import signal
import sys
from pathlib import Path

TRAIN_CONFIG = {
    "ops": {"models__conversion_model": {"config": {"min_rows": 100, "kind": "logreg", "max_candidates": 1}}}
}


def arm(spec: str) -> None:
    """Patch ``os.<op>`` so that its N-th call on a source named ``prefix*`` kills the process."""
    op, prefix, *rest = spec.split(":")
    wanted = int(rest[0]) if rest else 1
    original = getattr(os, op)
    seen = 0

    def killing(src, dst, *args, **kwargs):
        nonlocal seen
        if Path(src).name.startswith(prefix) or Path(src).parent.name.startswith(prefix):
            seen += 1
            if seen == wanted:
                sys.stderr.write(f"KILLED at {op}({src!s}, {dst!s})\n")
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return original(src, dst, *args, **kwargs)

    setattr(os, op, killing)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("job")
    parser.add_argument("--partition", action="append", default=[])
    parser.add_argument("--assets", default="")
    parser.add_argument("--kill-at")
    args = parser.parse_args()

    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.settings import PlatformSettings

    defs = build_definitions(PlatformSettings(data_dir=Path(args.data_dir)))
    job = defs.resolve_job_def(args.job)
    selection = [dg.AssetKey(a.split("/")) for a in args.assets.split(",") if a]
    if args.kill_at:
        arm(args.kill_at)
    sys.stderr.write("READY\n")
    sys.stderr.flush()
    ok = True
    with dg.instance_for_test() as instance:
        if args.job == "ingest_log_file":
            instance.add_dynamic_partitions("log_files", args.partition)
        for partition in args.partition or [None]:
            result = job.execute_in_process(
                instance=instance,
                run_config=TRAIN_CONFIG if args.job == "train_model" else None,
                partition_key=partition,
                asset_selection=selection or None,
                raise_on_error=False,
            )
            failed = {
                e.check_name: e.description or ""
                for e in result.get_asset_check_evaluations()
                if not e.passed
            }
            errors = []
            for event in result.get_step_failure_events():
                error = event.step_failure_data.error
                while error is not None:  # the cause chain: the platform's own message is inside
                    errors.append(error.message.strip())
                    error = error.cause
            outcome = {
                "partition": partition,
                "success": result.success,
                "failed_checks": failed,
                "errors": errors,
            }
            print("RESULT " + json.dumps(outcome), file=sys.stderr, flush=True)
            ok = ok and result.success
    print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
