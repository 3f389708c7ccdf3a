"""Soak: a backlog of landed files through ``dagster dev`` on the production (PostgreSQL) instance.

``python -m benchmarks.soak`` runs :func:`platform_assets_tests.soak.run_soak` (what is landed, what is
measured and how: its module docstring) at full size, 2,000 small files and 3 large ones by default,
prints the table and writes the "soak" section of ``benchmarks/RESULTS.md`` with the machine it ran
on. Needs ``PLATFORM_TEST_POSTGRES_URL`` (a server of your own, or ``.ci/postgres``). Each ingest is a
run, a process of its own: on 2 cores the full size takes hours; ``--small-files`` scales it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from benchmarks import machine, report
from platform_assets_tests.soak import (
    DAGSTER_TICK_LIMIT_SECONDS,
    LANDING_SENSOR,
    REPO,
    URL_VARIABLE,
    Postgres,
    SoakResult,
    SoakSize,
    overlapping_writes,
    run_soak,
    runs_overlapped,
)

HERE = Path(__file__).resolve().parent
SECTION = "soak"


# --- report ---------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def table(result: SoakResult) -> str:
    r = result
    landing_ticks = [t for t in r.ticks if t.sensor == LANDING_SENSOR]
    landing_eval = [t.evaluation_seconds for t in landing_ticks if t.evaluation_seconds is not None]
    sensors = sorted({t.sensor for t in r.ticks})
    biggest = max(r.ticks, key=lambda t: t.runs, default=None)
    rows = [
        ["files landed", f"{r.files:,} ({r.size.describe()}), {r.landed.bytes / 2**20:,.1f} MB"],
        ["lines written", f"{r.landed.lines:,} (of which {r.landed.malformed:,} malformed, planted)"],
        ["events in the lake", f"{r.lake.events:,} (expected {r.landed.events:,})"],
        ["quarantined", f"{r.lake.quarantined:,} (expected {r.landed.malformed:,})"],
        ["lost", f"{r.lost:,}"],
        ["duplicated", f"{r.duplicated:,}"],
        ["ingest runs", ", ".join(f"{n:,} {s}" for s, n in sorted(r.ingest_runs.items()))],
        ["landing the backlog", f"{r.landing_seconds:,.1f} s"],
        ["backlog drain (last file landed -> last ingest ended)", f"{r.drain_seconds:,.1f} s"],
        ["runs per minute", f"{r.runs_per_minute:,.1f}"],
        [
            "one ingest run, start -> end (median / p95 / max)",
            f"{_percentile(r.ingest_run_seconds, 0.5):.1f} / {_percentile(r.ingest_run_seconds, 0.95):.1f} / "
            f"{max(r.ingest_run_seconds, default=float('nan')):.1f} s",
        ],
        [
            f"{LANDING_SENSOR} ticks: evaluation (median / max)",
            f"{len(landing_ticks):,} ticks, {_percentile(landing_eval, 0.5):.2f} / "
            f"{max(landing_eval, default=float('nan')):.2f} s",
        ],
        [
            "slowest evaluation of any sensor (Dagster's limit applies to this)",
            f"{r.max_evaluation_seconds():.2f} s (limit {DAGSTER_TICK_LIMIT_SECONDS} s); per sensor: "
            + ", ".join(f"{s} {r.max_evaluation_seconds(s):.2f} s" for s in sensors),
        ],
        [
            "slowest whole tick (evaluation + submitting its runs, one by one)",
            f"{r.max_tick_seconds():.2f} s; per sensor: "
            + ", ".join(f"{s} {r.max_tick_seconds(s):.2f} s" for s in sensors)
            + (
                f"; the biggest tick requested {biggest.runs} runs in {biggest.seconds:.1f} s "
                f"({biggest.seconds / biggest.runs:.2f} s a run)"
                if biggest and biggest.runs and biggest.seconds
                else ""
            ),
        ],
        ["failed ticks", f"{sum(t.status == 'FAILURE' for t in r.ticks)}"],
        [
            "build_day runs (two writers)",
            ", ".join(f"{x['tags'].get('dagster/partition')} {x['status']}" for x in r.build_runs)
            + f"; in flight together: {'yes' if runs_overlapped(r) else 'no'}; "
            f"overlapping warehouse writes: {len(overlapping_writes(r))}",
        ],
        [
            "warehouse daily_traffic requests by day (lake events)",
            ", ".join(
                f"{d}: {r.warehouse_by_day.get(d, 0):,} ({r.lake_by_day_at_build.get(d, 0):,})"
                for d in sorted(r.lake_by_day_at_build)
            ),
        ],
        ["days built (sensor started -> last build ended)", f"{r.build_seconds:,.1f} s"],
        [
            "peak RSS of dagster dev's processes (sum / largest)",
            f"{r.peak_rss_total_mb:,.0f} MB / {r.peak_rss_process_mb:,.0f} MB ({r.peak_rss_process})",
        ],
        ["PostgreSQL rows", ", ".join(f"{t} {n:,}" for t, n in r.postgres_tables.items())],
        ["SQLite files in DAGSTER_HOME", ", ".join(r.sqlite_files) or "none"],
        [
            "CPU of dagster dev's processes, runs included (sampled, a lower bound)",
            f"{r.cpu_seconds:,.0f} s in {r.processes:,} processes, "
            f"{r.cpu_seconds / max(1, r.files):.1f} s per landed file",
        ],
        ["soak wall time", f"{r.wall_seconds / 60:,.1f} min"],
    ]
    return report.markdown_table(rows, ("soak", ""))


def scaled_note(result: SoakResult, info: dict[str, str]) -> str:
    """Say plainly when this run was smaller than the full soak."""
    size, full = result.size, SoakSize()
    full_minutes = (full.small_files + full.large_files) / result.runs_per_minute
    if size.small_files >= full.small_files and size.large_files >= full.large_files:
        return f"Full size: {size.describe()}."
    return (
        f"**Scaled run**: {size.describe()}, not the full soak's {full.small_files:,} small files "
        f"({full.describe()}). Every file is one ingest run, a process of its own; at the rate "
        f"measured here ({result.runs_per_minute:.1f} runs a minute) the full size would take about "
        f"{full_minutes:,.0f} minutes. Load while it ran: "
        f"{info.get('load average 1/5/15 min', 'unknown')}."
    )


def markdown(result: SoakResult, command: str, info: dict[str, str]) -> str:
    intro = (
        f"`{command}` (`benchmarks/soak.py`; what is measured and how: the docstring of "
        "`platform_assets_tests/soak.py`)."
    )
    title = "soak: a backlog of landed files through dagster dev on PostgreSQL"
    return report.extra_section(SECTION, title, [intro, scaled_note(result, info), table(result)], info)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default = SoakSize()
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--small-files", type=int, default=default.small_files)
    p.add_argument("--small-events", type=int, default=default.small_events, help="lines per small file")
    p.add_argument("--large-files", type=int, default=default.large_files)
    p.add_argument("--large-events", type=int, default=default.large_events, help="lines per large file")
    p.add_argument("--sensor-interval", type=int, default=2, help="seconds between sensor ticks")
    p.add_argument("--drain-timeout", type=float, default=4 * 3600)
    p.add_argument("--work-dir", type=Path, help="kept afterwards (default: a temporary folder, removed)")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the RESULTS.md to write into")
    p.add_argument("--no-write", action="store_true", help="print the table only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get(URL_VARIABLE)
    if not url:
        print(f"{URL_VARIABLE} is not set: start a server with .ci/postgres (see docs/operations.md)")
        return 2
    size = SoakSize(
        small_files=args.small_files,
        small_events=args.small_events,
        large_files=args.large_files,
        large_events=args.large_events,
    )
    info = machine.describe(REPO)
    load_before = " ".join(f"{x:.2f}" for x in machine.load_average())
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=False)
        result = run_soak(args.work_dir, size, url, sensor_interval=args.sensor_interval,
                          drain_timeout=args.drain_timeout)  # fmt: skip
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as work:
            result = run_soak(Path(work), size, url, sensor_interval=args.sensor_interval,
                              drain_timeout=args.drain_timeout)  # fmt: skip
    load_after = " ".join(f"{x:.2f}" for x in machine.load_average())
    info["load average 1/5/15 min"] = f"{load_before} before, {load_after} after (2 cores, shared)"
    info["PostgreSQL"] = _server_version(url)
    info["sensor interval"] = f"{args.sensor_interval} s"
    command = "python -m benchmarks.soak " + shlex.join(argv if argv is not None else sys.argv[1:])
    print(table(result))
    if not args.no_write:
        existing = args.out.read_text() if args.out.exists() else report.HEADER
        args.out.write_text(report.replace_extra(existing, SECTION, markdown(result, command.strip(), info)))
        print(f"written to {args.out}")
    ok = result.lost == 0 and result.duplicated == 0 and not overlapping_writes(result)
    return 0 if ok else 1


def _server_version(url: str) -> str:
    pg = Postgres.from_url(url)
    return pg.query(pg.database, "SHOW server_version")[0][0]


if __name__ == "__main__":
    sys.exit(main())
