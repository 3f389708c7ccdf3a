"""``python -m benchmarks --events N``: run the cases, print the tables, merge them into RESULTS.md."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

from benchmarks import machine, report
from benchmarks.cases import CASES, FORMATS, Options, build_cases
from benchmarks.engines import ENGINES
from benchmarks.runner import REPO, Runner, datasets

HERE = Path(__file__).resolve().parent


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--events", type=int, required=True, help="events in the benchmark's main file")
    p.add_argument("--repeats", type=int, default=3, help="runs per row (default 3)")
    p.add_argument("--cases", type=_csv, default=list(CASES), help=f"comma-separated: {','.join(CASES)}")
    p.add_argument("--formats", type=_csv, default=list(FORMATS), help=f"ingest inputs: {','.join(FORMATS)}")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    p.add_argument("--work-dir", type=Path, default=HERE / ".runs", help="scratch space (emptied afterwards)")
    p.add_argument("--cache-dir", type=Path, default=HERE / ".cache", help="generated logs, kept")
    p.add_argument(
        "--budget",
        type=float,
        default=300.0,
        help="seconds per row: no further repeat once it would exceed this (default 300)",
    )
    p.add_argument("--max-rss-gb", type=float, default=12.0, help="kill a worker above this RSS")
    p.add_argument("--timeout", type=float, default=1800.0, help="kill a worker after this many seconds")
    p.add_argument("--small-events", type=int, default=10_000, help="events of the orchestration case's day")
    p.add_argument(
        "--pandas-max-events",
        type=int,
        default=2_000_000,
        help="above this, default pandas is measured on the --subset-events file",
    )
    p.add_argument("--subset-events", type=int, default=1_000_000)
    p.add_argument(
        "--pandas-full-formats",
        type=_csv,
        default=["jsonl"],
        help="formats whose pandas engine=pyarrow row stays full size above --pandas-max-events",
    )
    p.add_argument(
        "--engine-rows-max-events",
        type=int,
        default=2_000_000,
        help="above this, the engine-alone ingest row is measured for jsonl only",
    )
    p.add_argument("--history-days", type=int, default=30, help="days of history in the incremental case")
    p.add_argument(
        "--engines",
        type=_csv,
        default=list(ENGINES),
        help=f"engines of the engines case (default all registered: {','.join(ENGINES)})",
    )
    p.add_argument("--skip-cli", action="store_true", help="leave out the dagster CLI rows (slow)")
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    p.add_argument("--data-only", action="store_true", help="generate the cached inputs, measure nothing")
    args = p.parse_args(argv)
    unknown_engines = set(args.engines) - set(ENGINES)
    if unknown_engines or not args.engines:
        p.error(f"bad --engines {sorted(unknown_engines)}: choose from {','.join(ENGINES)}")
    unknown = set(args.formats) - set(FORMATS)
    if unknown or args.events < 1 or args.repeats < 1:
        p.error(f"bad --formats {sorted(unknown)}" if unknown else "--events and --repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    opts = Options(
        events=args.events,
        formats=tuple(args.formats),
        small_events=args.small_events,
        pandas_max_events=args.pandas_max_events,
        pandas_full_formats=tuple(args.pandas_full_formats),
        subset_events=args.subset_events,
        engine_rows_max_events=args.engine_rows_max_events,
        history_days=args.history_days,
        cli=not args.skip_cli,
        engines=tuple(args.engines),
    )
    cases = build_cases(args.cases, opts)
    work = args.work_dir / time.strftime(f"%Y%m%d-%H%M%S-{args.events}")
    runner = Runner(work, args.cache_dir, args.repeats, args.budget, args.max_rss_gb * 1024, args.timeout)
    if args.data_only:
        for dataset in dict.fromkeys(d for case in cases for v in case.variants for d in datasets(v)):
            runner.files(dataset)
        print(f"inputs ready in {args.cache_dir}")
        return 0
    code_before = machine.code_fingerprint(REPO)
    load_before, started = machine.load_average(), time.perf_counter()
    try:
        for case in cases:
            print(f"== {case.name}: {case.title}", flush=True)
            for variant in dict.fromkeys(
                [*case.variants, *(v for c in case.comparisons for v in (c.subject, c.baseline))]
            ):
                runner.measure(variant)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after, code_after = machine.load_average(), machine.code_fingerprint(REPO)
    loads = sorted(runner.loads) or [0.0]
    run = {
        "load average 1/5/15 min": " ".join(f"{x:.2f}" for x in load_before)
        + " before, "
        + " ".join(f"{x:.2f}" for x in load_after)
        + " after",
        "1-min load as workers started": f"{loads[0]:.2f} to {loads[-1]:.2f}, "
        f"median {loads[len(loads) // 2]:.2f}",
        "platform sources (sha256 of platform_assets/*.py, *.sql)": code_before
        + ("" if code_after == code_before else f", CHANGED during the run to {code_after}"),
        "repeats": f"{args.repeats} (time budget {args.budget:.0f} s per row)",
        "wall time": f"{(time.perf_counter() - started) / 60:.1f} min, of which "
        f"{runner.generation_s:.0f} s generating inputs missing from the cache",
    }
    text = report.section(args.events, command, machine.describe(REPO), run, cases, runner.measure)
    print(text)
    existing = args.out.read_text() if args.out.exists() else ""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.merge(existing, args.events, text))
    print(f"wrote {args.out}")
    failed = [m for m in (runner.measure(v) for c in cases for v in c.variants) if not m.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
