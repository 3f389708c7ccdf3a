"""``platform-assets simulate-traffic``: replay built days against a running prediction service.

Every non-bot session of each day is asked of the service at ``--url`` as its application would
have asked at the session's start (``serving/replay.py``), with its session id, so the A/B result
joins each answer to what really happened. Then the server's decision log (landed when it rotates
or stops) goes through the platform like any log: ``dagster dev`` ingests it, judges the day and
decides the experiment.
"""

from __future__ import annotations

import argparse
import sys


def add_simulate(commands: argparse._SubParsersAction, formatter: type) -> None:
    """Register ``simulate-traffic``."""
    p = commands.add_parser(
        "simulate-traffic",
        formatter_class=formatter,
        help="replay built days' sessions against a running `platform-assets serve`",
        description=(
            "Asks the prediction service for every non-bot session of each --day, at the session's "
            "start as its application would (visitor, time, entry path, user agent, referrer, "
            "country, session id), and prints the answers per arm. The outcomes the A/B result "
            "judges the arms on are the sessions' real ones, from the marts."
        ),
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the prediction service")
    p.add_argument(
        "--day", dest="days", type=_day, action="append", required=True, help="YYYY-MM-DD, repeatable"
    )
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight at once")
    p.set_defaults(handler=_cmd_simulate)


def _day(value: str) -> str:
    from platform_assets.lib.layout import validate_day

    try:
        return validate_day(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    from platform_assets.cli.common import cli_settings, existing_data_dir
    from platform_assets.lib.layout import DataLayout
    from platform_assets.serving.replay import replay, session_requests

    layout = DataLayout(existing_data_dir(cli_settings()))
    failed = False
    for day in args.days:
        try:
            bodies = session_requests(layout, day)
        except ValueError as error:
            print(f"platform-assets simulate-traffic: {error}", file=sys.stderr)
            return 1
        replayed = replay(args.url, bodies, concurrency=max(1, args.concurrency))
        print(f"{day}: {len(bodies):,} sessions asked; {replayed.describe()}")
        failed = failed or bool(replayed.errors)
    print(
        "the server lands its decision log when it rotates (--decision-log-seconds) or stops; "
        "`dagster dev` then ingests it and judges the days (experiments/ab_results)"
    )
    return 1 if failed else 0
