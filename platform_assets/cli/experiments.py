"""``platform-assets experiments``: start, end and list the serving split's experiments.

The same deployment history the ``experiments/deployment`` asset writes (``models/serving.sqlite``);
each change is also reported on that asset in the Dagster instance, so the UI's lineage shows it.
A running ``platform-assets serve`` picks a change up within a second.
"""

from __future__ import annotations

import argparse
import json
import sys


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if 0 < share < 1:
        return share
    raise argparse.ArgumentTypeError(f"expected a share between 0 and 1 (exclusive), got {value!r}")


def _budget(value: str) -> int:
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a positive number of sessions, got {value!r}")


def add_experiments(commands: argparse._SubParsersAction, formatter: type) -> None:
    """Register ``experiments start|end|list``."""
    p = commands.add_parser(
        "experiments",
        formatter_class=formatter,
        help="start or end a champion/challenger split of the prediction service; list them",
        description=(
            "The prediction service's deployments: the champion answers every visitor unless an "
            "experiment sends a share of visitors (sticky per visitor) to a challenger version, and "
            "optionally scores a shadow version beside every answer without returning it. The "
            "experiments/ab_results asset judges a running experiment every day and the "
            "experiment_decider sensor ends it (promoting the challenger through the gate) when "
            "the result is decisive or its budget of sessions is spent."
        ),
    )
    sub = p.add_subparsers(dest="experiments_command", required=True, metavar="ACTION")
    start = sub.add_parser("start", formatter_class=formatter, help="put a new experiment in force")
    start.add_argument("name", metavar="NAME", help="experiment name: lowercase letters, digits, - or _")
    start.add_argument("--challenger", metavar="VERSION", help="registered version answering --share")
    start.add_argument("--share", type=_share, default=0.1, help="share of visitors to the challenger")
    start.add_argument("--shadow", metavar="VERSION", help="version scored on every request, never answered")
    start.add_argument("--budget", type=_budget, help="end after this many judged sessions (default: none)")
    start.add_argument("--reason", required=True, help="why (kept in the deployment history)")
    start.set_defaults(handler=_cmd_start)
    end = sub.add_parser("end", formatter_class=formatter, help="end the running experiment by hand")
    end.add_argument("name", metavar="NAME")
    end.add_argument("--reason", required=True, help="why (kept in the deployment history)")
    end.set_defaults(handler=_cmd_end)
    listing = sub.add_parser("list", formatter_class=formatter, help="the deployment history, oldest first")
    listing.set_defaults(handler=_cmd_list)


def _models_dir():
    from platform_assets.cli.common import cli_settings, existing_data_dir
    from platform_assets.lib.layout import DataLayout

    return DataLayout(existing_data_dir(cli_settings())).models


def _cmd_start(args: argparse.Namespace) -> int:
    from platform_assets.lib.ml.deployment import start_experiment

    if args.challenger is None and args.shadow is None:
        print("refused: name a --challenger, a --shadow or both", file=sys.stderr)
        return 1
    try:
        deployed = start_experiment(
            _models_dir(),
            args.name,
            reason=args.reason,
            actor="platform-assets experiments start",
            challenger=args.challenger,
            share=args.share,
            shadow=args.shadow,
            budget_sessions=args.budget,
        )
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    print(f"deployment {deployed.id}: {_describe(deployed)}")
    _report(deployed, "started by the platform-assets CLI")
    return 0


def _cmd_end(args: argparse.Namespace) -> int:
    from platform_assets.lib.ml.deployment import DeploymentStore

    try:
        ended = DeploymentStore(_models_dir()).end(
            args.name, reason=args.reason, actor="platform-assets experiments end", evidence={"by": "hand"}
        )
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    print(f"deployment {ended.id}: {args.name} ended; the champion answers every visitor")
    _report(ended, "ended by the platform-assets CLI")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from platform_assets.cli.common import aligned_table
    from platform_assets.lib.ml.deployment import DeploymentStore

    rows = [["id", "at", "experiment", "status", "arms", "actor", "reason"]]
    for deployed in DeploymentStore(_models_dir()).history():
        rows.append(
            [
                str(deployed.id),
                deployed.at,
                deployed.experiment,
                deployed.status,
                _describe(deployed),
                deployed.actor,
                deployed.reason,
            ]
        )
    print(aligned_table(rows) if len(rows) > 1 else "no deployment yet: the champion answers every visitor")
    return 0


def _describe(deployed) -> str:
    arms = ", ".join(f"{a.name}{'=' + a.version if a.version else ''} {a.share:.0%}" for a in deployed.arms)
    return arms + (f", shadow={deployed.shadow}" if deployed.shadow else "")


def _report(deployed, description: str) -> None:
    """Record the change on ``experiments/deployment`` in the Dagster instance (the UI's lineage)."""
    import dagster as dg

    from platform_assets.cli.common import cli_settings, existing_data_dir
    from platform_assets.cli.instance import platform_instance
    from platform_assets.layers.experiments.assets import DEPLOYMENT, deployment_metadata
    from platform_assets.lib.ml.model_store import ModelStore

    data_dir = existing_data_dir(cli_settings())
    champion = ModelStore(_models_dir()).champion()
    instance, home = platform_instance(data_dir)
    with instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=DEPLOYMENT,
                description=description,
                metadata={
                    **deployment_metadata(deployed, champion),
                    "evidence": json.dumps(deployed.evidence),
                },
            )
        )
    print(f"recorded on experiments/deployment in the Dagster instance at {home}")
