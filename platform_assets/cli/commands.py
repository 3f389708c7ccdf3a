"""Command line interface of the platform: ``platform-assets <command> [options]``.

Commands:
    generate-logs   write realistic, seeded web traffic logs, one file per day
    demo            sample logs into the landing folder, then every asset end to end through Dagster
    register-files  add landed files as log_files partitions (for `dagster asset materialize`)
    models          list registered model versions; promote one or roll back the champion
    reports         serve the monitoring reports and their index (links in the UI point here)
    ui              the Dagster UI (dagster dev) and the reports together, for the data directory

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
from importlib import metadata
from pathlib import Path

from platform_assets.cli.common import (
    CommandError,
    HelpFormatter,
    aligned_table,
    cli_settings,
    existing_data_dir,
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KIND_NAMES = {int: "whole number", float: "number"}


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
            name = _KIND_NAMES.get(kind, kind.__name__)
            raise argparse.ArgumentTypeError(f"expected a {name}, got {value!r}") from None
        if number < low or (high is not None and number > high) or number != number:
            limits = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return number

    return parse


def _cmd_generate_logs(args: argparse.Namespace) -> int:
    from platform_assets.cli.progress import StageProgress
    from platform_assets.lib.log_generator import GeneratedFile, generate_logs

    def report(file: GeneratedFile) -> None:
        progress.say(f"{file.path}\t{file.events} events\t{file.malformed} malformed")

    started = time.perf_counter()
    progress = StageProgress(stage_lines=False)  # piped: the lines per file and the total say it
    try:
        with progress.stage("generate logs", args.days, "files") as stage:
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
                on_file=lambda file: (report(file), stage.advance()),
            )
    except OSError as error:
        raise CommandError(
            f"cannot write to --out {args.out}: {error.strerror or error}; choose a folder you can write to"
        ) from None
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
        formatter_class=HelpFormatter,
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
        help="share of lines replaced by unparseable ones",
    )
    p.set_defaults(handler=_cmd_generate_logs)


def _cmd_demo(args: argparse.Namespace) -> int:
    from platform_assets.cli.demo import DemoOptions, format_report, run_demo
    from platform_assets.cli.progress import StageProgress
    from platform_assets.cli.runs import RunFailed

    settings = cli_settings()
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
        report = run_demo(settings, options, StageProgress())
    except RunFailed as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        raise CommandError(
            f"cannot write {error.filename or settings.data_dir}: {error.strerror or error}; "
            "set PLATFORM_DATA_DIR (and DAGSTER_HOME) to folders you can write to"
        ) from None
    print(format_report(report))
    return 0


def _add_demo(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo",
        formatter_class=HelpFormatter,
        help="generate sample logs and materialize every asset end to end",
        description=(
            "Simulate normal then drifted traffic of one visitor population; land the normal days in "
            "PLATFORM_DATA_DIR/landing/demo (files already in the landing folder are processed too), "
            "build lake, marts and features through Dagster, train a champion, land the drifted "
            "days, score and monitor them, let the retraining sensor ask for a challenger and "
            "record the promotion decision; then print a summary."
        ),
    )
    p.add_argument(
        "--days",
        type=_bounded(int, 2),
        default=42,
        help="days of normal traffic (28 for the visitors' history to fill, then days to learn from)",
    )
    p.add_argument(
        "--drift-days", type=_bounded(int, 0), default=4, help="days of drifted traffic after them"
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
    from platform_assets.cli.instance import platform_instance
    from platform_assets.layers.common.partitions import log_files
    from platform_assets.layers.raw.sensors import file_key_problem
    from platform_assets.lib.layout import DataLayout

    data_dir = existing_data_dir(cli_settings())
    layout = DataLayout(data_dir)
    if not layout.landing.is_dir():
        raise CommandError(f"no landing folder at {layout.landing}; land log files there first")
    keys = args.keys
    if not keys:
        # every landed file, except names the sensor would skip too (one bad name must not stop
        # the others: a non-UTF-8 name cannot even be stored in the instance)
        keys = []
        for key in layout.landed_keys():
            problem = file_key_problem(key)
            if problem:
                print(f"skipped {key!r}: {problem}", file=sys.stderr)
            else:
                keys.append(key)
    for key in args.keys:
        try:
            layout.landed_path(key)
            problem = file_key_problem(key)
            if problem:
                raise ValueError(problem)
        except (ValueError, FileNotFoundError) as error:  # UnsafePathError is a ValueError
            print(f"refused {key!r}: {error}", file=sys.stderr)
            return 1
    instance, _ = platform_instance(data_dir)
    with instance:
        instance.add_dynamic_partitions(log_files.name, keys)
    for key in keys:
        print(key)
    return 0


def _add_register_files(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "register-files",
        formatter_class=HelpFormatter,
        help="register landed files as log_files partitions (for dagster asset materialize)",
        description=(
            "Add landed files (default: every file under PLATFORM_DATA_DIR/landing) as partitions of "
            "the log_files dynamic partitioning in the Dagster instance at DAGSTER_HOME (unset: the "
            "demo's, PLATFORM_DATA_DIR/dagster_home), and print "
            "their keys one per line, so `dagster asset materialize --partition KEY` can ingest them "
            "without the sensor. Keys already registered are kept; unsafe keys are refused. Landed "
            "files whose names the sensor skips too (not UTF-8, '...', control characters) are left "
            "out with one line each on stderr."
        ),
    )
    p.add_argument("keys", nargs="*", metavar="KEY", help="paths relative to the landing folder")
    p.set_defaults(handler=_cmd_register_files)


def _cmd_models_list(args: argparse.Namespace) -> int:
    from platform_assets.lib.layout import DataLayout
    from platform_assets.lib.ml.model_store import ModelStore

    store = ModelStore(DataLayout(existing_data_dir(cli_settings())).models)
    champion = store.champion()
    rows = [["version", "champion", "accepted", "family", "roc_auc", "log_loss", "trained_on", "decision"]]
    for version in store.versions():
        entry = store.entry(version.version)
        decision = entry.get("decision") or {}
        rows.append(
            [
                version.version,
                "*" if champion and champion.version == version.version else "",
                "yes" if version.accepted else "no",
                str(entry.get("family", "")),
                _number(entry.get("roc_auc")),
                _number(entry.get("log_loss")),
                f"{entry.get('train_start', '?')}..{entry.get('holdout_end', '?')}",
                str(decision.get("reason", "")),
            ]
        )
    print(aligned_table(rows))
    if args.decisions:
        fields = ("at", "action", "champion", "previous_champion", "reason")
        decisions = [["at", "action", "champion", "previous", "reason"]]
        decisions += [[str(record.get(k) or "") for k in fields] for record in store.decisions()]
        print("\n" + aligned_table(decisions))
    return 0


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else ""


def _cmd_models_promote(args: argparse.Namespace) -> int:
    """Make a version the champion by hand (``rollback`` without ``--to``: the previous one)."""
    import dagster as dg

    from platform_assets.cli.instance import platform_instance
    from platform_assets.layers.models.assets import CHAMPION, promote_version
    from platform_assets.lib.layout import DataLayout
    from platform_assets.lib.ml.model_store import ModelStore

    data_dir = existing_data_dir(cli_settings())
    store = ModelStore(DataLayout(data_dir).models)
    version = args.version
    if version is None:  # rollback to the previous champion
        version = store.previous_champion()
        if version is None:
            print(
                "no earlier champion to roll back to (see `platform-assets models list --decisions`)",
                file=sys.stderr,
            )
            return 1
    champion = store.champion()
    if champion is not None and champion.version == version:
        print(f"refused: {version} is already the champion (nothing to record)", file=sys.stderr)
        return 1
    try:
        record = promote_version(
            store, version, args.reason, actor=f"platform-assets models {args.command_name}", force=args.force
        )
    except dg.Failure as error:
        print(f"refused: {error.description}", file=sys.stderr)
        return 1
    print(f"champion: {record['champion']} (was {record['previous_champion'] or 'none'}; {record['action']})")
    instance, home = platform_instance(data_dir)
    with instance:  # so the UI's models/champion shows the change
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=CHAMPION,
                description=f"{record['action']} by the platform-assets CLI",
                metadata={
                    "champion": record["champion"],
                    "previous_champion": record["previous_champion"] or "",
                    "action": record["action"],
                    "reason": record["reason"],
                },
            )
        )
    print(f"recorded on models/champion in the Dagster instance at {home}")
    return 0


def _add_models(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "models",
        formatter_class=HelpFormatter,
        help="list model versions; promote one or roll back the champion",
        description=(
            "The model registry under PLATFORM_DATA_DIR/models: every trained version with its scores "
            "and promotion decision, which one is the champion (used by predictions and monitoring), "
            "and the history of promotions. promote and rollback verify the version's files against "
            "their registered sha256 before moving the champion, and record who and why."
        ),
    )
    sub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    listing = sub.add_parser(
        "list",
        formatter_class=HelpFormatter,
        help="registered versions (and --decisions: the promotion history)",
    )
    listing.add_argument("--decisions", action="store_true", help="also print every promotion decision")
    listing.set_defaults(handler=_cmd_models_list)
    promote = sub.add_parser("promote", formatter_class=HelpFormatter, help="make VERSION the champion")
    promote.add_argument("version", metavar="VERSION", help="e.g. v0003")
    promote.add_argument("--reason", required=True, help="why (kept in the decision history)")
    promote.add_argument(
        "--force", action="store_true", help="also a version that failed its baseline or floor gate"
    )
    promote.set_defaults(handler=_cmd_models_promote, command_name="promote")
    rollback = sub.add_parser(
        "rollback",
        formatter_class=HelpFormatter,
        help="make the previous champion (or --to VERSION) the champion again",
    )
    rollback.add_argument(
        "--to", dest="version", metavar="VERSION", default=None, help="(default: the previous champion)"
    )
    rollback.add_argument("--reason", required=True, help="why (kept in the decision history)")
    rollback.add_argument("--force", action="store_true", help="also a version that failed its gate")
    rollback.set_defaults(handler=_cmd_models_promote, command_name="rollback")


def _cmd_reports_serve(args: argparse.Namespace) -> int:
    from platform_assets.cli.reports import default_port, serve
    from platform_assets.lib.layout import DataLayout

    settings = cli_settings()
    reports = DataLayout(existing_data_dir(settings)).reports
    port = default_port(settings.reports_url) if args.port is None else args.port
    try:
        serve(reports, args.host, port, settings.reports_url)
    except OSError as error:
        raise CommandError(
            f"cannot serve on {args.host}:{port}: {error.strerror or error}; choose another --port "
            "(and set PLATFORM_REPORTS_URL to match, for the UI's links)"
        ) from None
    return 0


def _add_reports(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "reports",
        formatter_class=HelpFormatter,
        help="serve the monitoring reports and their index (the UI links to them)",
        description=(
            "The Evidently reports under PLATFORM_DATA_DIR/reports, read-only over HTTP: each "
            "monitoring asset records its report's address (metadata `report`, under "
            "PLATFORM_REPORTS_URL) as a link, and / lists every report by day and model version "
            "with its verdict."
        ),
    )
    sub = p.add_subparsers(dest="reports_command", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", formatter_class=HelpFormatter, help="serve until Ctrl-C")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (another one shows the reports to others)"
    )
    serve.add_argument(
        "--port",
        type=_bounded(int, 0, 65535),
        default=None,
        help="port (default: the port of PLATFORM_REPORTS_URL, 3001 unset)",
    )
    serve.set_defaults(handler=_cmd_reports_serve)


def _cmd_ui(args: argparse.Namespace) -> int:
    from platform_assets.cli.ui import run_ui

    settings = cli_settings()
    data_dir = existing_data_dir(settings)
    try:
        return run_ui(data_dir, settings.reports_url, args.host, args.port)
    except OSError as error:
        raise CommandError(
            f"cannot serve the reports on {args.host}: {error.strerror or error}; stop what uses the "
            "port of PLATFORM_REPORTS_URL or set PLATFORM_REPORTS_URL to another one"
        ) from None


def _add_ui(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "ui",
        formatter_class=HelpFormatter,
        help="the Dagster UI and the monitoring reports of the data directory, until Ctrl-C",
        description=(
            "`dagster dev` (webserver and daemon: sensors run) on the platform's code location with "
            "the instance every command uses (DAGSTER_HOME, else PLATFORM_DATA_DIR/dagster_home), "
            "and the reports the UI links to, served where PLATFORM_REPORTS_URL points."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (another one shows the UI to others)")
    p.add_argument("--port", type=_bounded(int, 1, 65535), default=3000, help="port of the Dagster UI")
    p.set_defaults(handler=_cmd_ui)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform-assets",
        formatter_class=HelpFormatter,
        description="Web traffic logs to a Parquet lake, DuckDB marts, features, models and drift reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate_logs(commands)
    _add_demo(commands)
    _add_register_files(commands)
    _add_models(commands)
    _add_reports(commands)
    _add_ui(commands)
    from platform_assets.cli.serve import add_serve  # the prediction service (cli/serve.py)

    add_serve(commands)
    from platform_assets.cli.experiments import add_experiments  # the serving split (cli/experiments.py)

    add_experiments(commands, HelpFormatter)
    from platform_assets.cli.simulate import add_simulate  # replaying built days (cli/simulate.py)

    add_simulate(commands, HelpFormatter)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argument errors exit with 2 via argparse; a problem the
    user can fix prints one line and exits with 1)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"platform-assets {args.command}: {error}", file=sys.stderr)
        return 1


def _version() -> str:
    try:
        return metadata.version("platform_assets")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
