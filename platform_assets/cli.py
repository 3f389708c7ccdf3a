"""Command line interface of the platform: ``platform-assets <command> [options]``.

Commands:
    generate-logs   write realistic, seeded web traffic logs, one file per day
    demo            sample logs into the landing folder, then every asset end to end through Dagster

Each command lives in a ``_cmd_*`` function that imports what it needs, so ``--help`` and argument
errors stay fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: str) -> dt.date:
    try:
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}")


def _bounded(kind: type, low: float, high: float | None = None) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` in [low, high]."""

    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {value!r}") from None
        if number < low or (high is not None and number > high) or number != number:
            limits = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return number

    return parse


def _cmd_generate_logs(args: argparse.Namespace) -> int:
    from platform_assets.lib.log_generator import GeneratedFile, generate_logs

    def report(file: GeneratedFile) -> None:
        print(f"{file.path}\t{file.events} events\t{file.malformed} malformed", flush=True)

    started = time.perf_counter()
    files = generate_logs(
        out_dir=args.out,
        start_date=args.start_date,
        days=args.days,
        events_per_day=args.events_per_day,
        fmt=args.format,
        seed=args.seed,
        gzip=args.gzip,
        drift=args.drift,
        malformed_rate=args.malformed_rate,
        on_file=report,
    )
    elapsed = max(time.perf_counter() - started, 1e-9)
    lines = sum(f.lines for f in files)
    print(
        f"total\t{sum(f.events for f in files)} events\t{sum(f.malformed for f in files)} malformed"
        f"\t{len(files)} files in {elapsed:.1f}s ({lines / elapsed:,.0f} lines/s)"
    )
    return 0


def _add_generate_logs(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "generate-logs",
        help="write realistic, seeded web traffic logs, one file per day",
        description=(
            "Write access-YYYY-MM-DD.jsonl (or .log in combined format) files with returning users, "
            "sessions, a shop funnel, bots, errors, late and malformed lines. The same arguments "
            "and seed give byte-identical files."
        ),
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    p.add_argument("--start-date", type=_date, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--days", type=_bounded(int, 1), default=1, help="number of daily files")
    p.add_argument(
        "--events-per-day", type=_bounded(int, 1), default=10_000, help="about this many lines a day"
    )
    p.add_argument("--format", choices=("jsonl", "combined"), default="jsonl", help="log format")
    p.add_argument("--seed", type=_bounded(int, 0), default=0, help="random seed")
    p.add_argument("--gzip", action="store_true", help="gzip the files (.gz appended)")
    p.add_argument(
        "--drift",
        type=_bounded(float, 0.0, 2.0),
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="STRENGTH",
        help="shift device/country/referrer mix, latency and conversion (no value: 1.0)",
    )
    p.add_argument(
        "--malformed-rate",
        type=_bounded(float, 0.0, 1.0),
        default=0.0005,
        help="share of lines replaced by unparseable ones (default 0.0005)",
    )
    p.set_defaults(handler=_cmd_generate_logs)


def _cmd_demo(args: argparse.Namespace) -> int:
    from platform_assets.demo import DemoError, DemoOptions, format_report, run_demo
    from platform_assets.settings import load_settings

    settings = load_settings()
    options = DemoOptions(
        days=args.days,
        drift_days=args.drift_days,
        events_per_day=args.events_per_day,
        fmt=args.format,
        gzip=args.gzip,
        seed=args.seed,
        start_date=args.start_date,
        drift_strength=args.drift,
    )
    print(f"PLATFORM_DATA_DIR={settings.data_dir}", flush=True)
    try:
        report = run_demo(settings, options, say=lambda line: print(line, flush=True))
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    print(format_report(report))
    return 0


def _add_demo(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo",
        help="generate sample logs and materialize every asset end to end",
        description=(
            "Generate normal traffic into PLATFORM_DATA_DIR/landing/demo (files already in the landing "
            "folder are processed too), build lake, marts and features through Dagster, train the "
            "model, land drifted traffic, build it and write drift reports; then print a summary."
        ),
    )
    p.add_argument("--days", type=_bounded(int, 2), default=14, help="days of normal traffic (>= 2)")
    p.add_argument(
        "--drift-days", type=_bounded(int, 0), default=2, help="days of drifted traffic after them"
    )
    p.add_argument(
        "--events-per-day", type=_bounded(int, 100), default=5_000, help="about this many lines a day"
    )
    p.add_argument("--format", choices=("jsonl", "combined"), default="jsonl", help="log format")
    p.add_argument("--gzip", action="store_true", help="gzip the generated files")
    p.add_argument("--seed", type=_bounded(int, 0), default=7, help="random seed")
    p.add_argument(
        "--start-date", type=_date, default=None, help="first day (default: so the last day is yesterday)"
    )
    p.add_argument(
        "--drift", type=_bounded(float, 0.0, 2.0), default=1.0, metavar="STRENGTH", help="drift strength"
    )
    p.set_defaults(handler=_cmd_demo)


def _cmd_register_files(args: argparse.Namespace) -> int:
    import dagster as dg

    from platform_assets.lib.layout import DataLayout
    from platform_assets.partitions import log_files
    from platform_assets.settings import load_settings

    layout = DataLayout(load_settings().data_dir)
    keys = args.keys or layout.landed_keys()
    for key in keys:
        try:
            layout.landed_path(key)
        except (ValueError, FileNotFoundError) as error:  # UnsafePathError is a ValueError
            print(f"refused {key!r}: {error}", file=sys.stderr)
            return 1
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(log_files.name, keys)
    for key in keys:
        print(key)
    return 0


def _add_register_files(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "register-files",
        help="register landed files as log_files partitions (for dagster asset materialize)",
        description=(
            "Add landed files (default: every file under PLATFORM_DATA_DIR/landing) as partitions of "
            "the log_files dynamic partitioning in the Dagster instance at DAGSTER_HOME, and print "
            "their keys one per line, so `dagster asset materialize --partition KEY` can ingest them "
            "without the sensor. Keys already registered are kept; unsafe keys are refused."
        ),
    )
    p.add_argument("keys", nargs="*", metavar="KEY", help="paths relative to the landing folder")
    p.set_defaults(handler=_cmd_register_files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform-assets",
        description="Web traffic logs to a Parquet lake, DuckDB marts, features, models and drift reports.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate_logs(commands)
    _add_demo(commands)
    _add_register_files(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argument errors exit with 2 via argparse)."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
