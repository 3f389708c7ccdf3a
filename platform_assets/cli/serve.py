"""``platform-assets serve``: the prediction service over the platform's data directory.

The deployment in force (the champion, or an experiment's sticky split and shadow) answers
``POST /predict`` with the visitor's history from the online feature store
(``features/visitor_history``); all are followed without a restart. Every answer is appended to
the decision log under ``landing/decisions/``, which the platform ingests. Bound
to 127.0.0.1 unless ``--host`` says otherwise. FastAPI and uvicorn are imported only when the
command runs (the ``serve`` extra).
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_PORT = 8000


def _port(value: str) -> int:
    if value.isdigit() and 1 <= int(value) <= 65535:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a port 1..65535, got {value!r}")


def _body_limit(value: str) -> int:
    if value.isdigit() and 256 <= int(value) <= 1_048_576:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a size in bytes 256..1048576, got {value!r}")


def add_serve(commands: argparse._SubParsersAction) -> None:
    """Register the ``serve`` command."""
    p = commands.add_parser(
        "serve",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="the prediction service (POST /predict) with the champion model, until Ctrl-C",
        description=(
            "Answers POST /predict with the conversion probability of a starting session, from the "
            "registry's champion (its files checked against their sha256) and the visitor's history "
            "in the online feature store (features/visitor_history); a new champion or store day is "
            "picked up without a restart. /healthz, /readyz and the OpenAPI page at /docs."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (another one serves other machines)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port to bind")
    p.add_argument(
        "--max-body-bytes", type=_body_limit, default=16 * 1024, help="largest request body accepted"
    )
    p.add_argument(
        "--max-batch",
        type=_positive,
        default=64,
        help="requests answered together at most (those that arrived while the last batch was answered)",
    )
    p.add_argument(
        "--batch-workers",
        type=_positive,
        default=1,
        help="batches answered at once (the feature query runs without holding the GIL)",
    )
    p.add_argument(
        "--decision-log-lines",
        type=_positive,
        default=10_000,
        help="land the decision log's open file after this many answers",
    )
    p.add_argument(
        "--decision-log-seconds",
        type=_positive,
        default=60,
        help="... or when it is this many seconds old",
    )
    p.add_argument(
        "--no-decision-log",
        action="store_true",
        help="record no answer (the A/B test then has nothing to judge)",
    )
    p.set_defaults(handler=run_serve)


def _positive(value: str) -> int:
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")


def run_serve(args: argparse.Namespace) -> int:
    from platform_assets.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as error:
        print(f"platform-assets serve: {error}; fix or unset that environment variable", file=sys.stderr)
        return 1
    if not settings.data_dir.is_dir():
        print(
            f"platform-assets serve: no data directory at {settings.data_dir}; set PLATFORM_DATA_DIR "
            "(or run `platform-assets demo` to create one)",
            file=sys.stderr,
        )
        return 1
    try:
        import uvicorn

        from platform_assets.serving.app import create_app
    except ImportError as error:
        print(
            f"platform-assets serve: {error}; install the serve extra (pip install '.[serve]')",
            file=sys.stderr,
        )
        return 1
    import logging

    from platform_assets.lib.decision_log import DecisionLog, recover_abandoned

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    from platform_assets.lib.layout import DataLayout

    landing = DataLayout(settings.data_dir).landing
    decisions = None
    if not args.no_decision_log:
        for path in recover_abandoned(landing):  # files of a server that was killed
            print(f"platform-assets serve: landed an abandoned decision log: {path}", file=sys.stderr)
        decisions = DecisionLog(
            landing, max_lines=args.decision_log_lines, max_seconds=args.decision_log_seconds
        )
    app = create_app(
        settings.data_dir,
        max_body_bytes=args.max_body_bytes,
        decisions=decisions,
        max_batch=args.max_batch,
        batch_workers=args.batch_workers,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    except OSError as error:
        print(f"platform-assets serve: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0
