"""Serving: latency and errors of ``platform-assets serve`` under a fixed request rate.

``python -m benchmarks.serving`` builds a data directory (an online store of ``--sessions``
sessions of ``--visitors`` visitors over the 29-day history window, a logistic-regression champion
and a second version deployed as a **shadow**, so every request is scored twice), starts the real
server (uvicorn, one process, on 127.0.0.1) and drives it with an open-loop load generator: at
each rate, requests are *scheduled* at fixed intervals for ``--seconds`` and each latency is
measured from its scheduled time to its answer, so a server that falls behind shows it in the
tail instead of slowing the generator down (no coordinated omission). At most ``--max-in-flight``
kept-alive connections send requests (a small HTTP/1.1 client of its own: the generator spends
little CPU per request); a request due when as many again are queued, that times out
(``--timeout``) or does not get a 200 is an error. Requests mix known visitors (80%) and first
visits, entry paths, user agents and countries. The generator runs on the same 2-core machine:
the table records its CPU and the server's, per second of wall time.

After the last rate the server is stopped with SIGTERM and every answered request must be a line
of the landed decision log (a graceful stop loses none): the table says how many were found.
Writes the "serving" section of ``benchmarks/RESULTS.md`` with the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks import machine, report
from benchmarks.runner import REPO

HERE = Path(__file__).resolve().parent
SECTION = "serving"
DAY = dt.date(2026, 3, 9)  # the store's day; requests start the next day
GOAL_RATE, GOAL_P99_MS = 200, 25.0
PATHS = ["/", "/product/12", "/product/7?ref=mail", "/category/shoes", "/search?q=boots", "/cart", "/blog/x"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    None,
]
REFERRERS = ["https://www.google.com/", "https://news.example.org/a", None, "https://t.co/x"]
COUNTRIES = ["DE", "US", "FR", "unknown", None]


# --- the data directory -----------------------------------------------------------------------------


def build_data_dir(root: Path, sessions: int, visitors: int, seed: int = 7) -> list[str]:
    """A store, a champion and a shadow under ``root``; returns the stored visitor ids."""
    from platform_assets.lib.ml.deployment import start_experiment
    from platform_assets.serving.online_store import publish_day, store_root
    from platform_assets_tests.serving.support import register_champion, register_version

    rng = np.random.default_rng(seed)
    ids = [f"anon-{v:016x}" for v in rng.integers(0, 2**63, size=visitors)]
    owner = rng.integers(0, visitors, size=sessions)
    first = pd.Timestamp(DAY) - pd.to_timedelta(rng.integers(0, 29, size=sessions), unit="D")
    end = first + pd.to_timedelta(rng.integers(60, 86_000, size=sessions), unit="s")
    rows = pa.table(
        {
            "visitor_id": pa.array([ids[i] for i in owner], pa.string()),
            "session_id": pa.array([f"s-{i:08d}" for i in range(sessions)], pa.string()),
            "first_day": pa.array(first.date, pa.date32()),
            "session_end": pa.array(end.to_numpy(dtype="datetime64[us]"), pa.timestamp("us")),
            "converted": pa.array((rng.random(sessions) < 0.05).astype("int32"), pa.int32()),
            "page_views": pa.array(rng.integers(1, 20, size=sessions), pa.int64()),
        }
    )
    publish_day(store_root(root), DAY, rows)
    register_champion(root, threshold=0.5, seed=1)  # v0001, a logistic regression
    register_version(root, threshold=0.5, seed=2)  # v0002, the shadow
    start_experiment(root / "models", "benchmark", reason="benchmark", actor="benchmark", shadow="v0002")
    return ids


def request_bodies(ids: list[str], count: int, seed: int = 11) -> list[bytes]:
    rng = np.random.default_rng(seed)
    bodies = []
    for i in range(count):
        known = rng.random() < 0.8
        visitor = ids[rng.integers(len(ids))] if known else f"anon-{rng.integers(0, 2**63):016x}"
        start = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time()) + dt.timedelta(
            seconds=int(rng.integers(0, 86_400))
        )
        body = {
            "visitor_id": visitor,
            "session_id": f"bench-{i:09d}",
            "time": start.isoformat() + "Z",
            "entry_path": PATHS[rng.integers(len(PATHS))],
            "user_agent": AGENTS[rng.integers(len(AGENTS))],
            "referrer": REFERRERS[rng.integers(len(REFERRERS))],
            "country": COUNTRIES[rng.integers(len(COUNTRIES))],
        }
        bodies.append(json.dumps({k: v for k, v in body.items() if v is not None}).encode())
    return bodies


# --- the load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    rate: int
    seconds: float
    sent: int
    ok: int
    errors: dict[str, int]
    latencies_ms: list[float]
    wall: float
    server_cpu: float
    client_cpu: float

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def _http_request(host: str, port: int, body: bytes) -> bytes:
    """A pre-encoded keep-alive ``POST /predict`` (the generator spends its CPU on timing, not on
    building requests)."""
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request on an open connection and read its whole answer; its HTTP status."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _drive(
    url: str, bodies: list[bytes], rate: int, seconds: float, max_in_flight: int, timeout: float
):
    """Open loop: request i is due at start + i / rate and waits for a free connection of the
    ``max_in_flight`` kept-alive ones; its latency runs from when it was due."""
    host, port = url.removeprefix("http://").split(":")
    requests = [_http_request(host, int(port), body) for body in bodies]
    total = int(rate * seconds)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ok = 0
    due: asyncio.Queue = asyncio.Queue()

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def connection() -> None:
        nonlocal ok
        reader = writer = None
        while (item := await due.get()) is not None:
            i, scheduled = item
            request = requests[i % len(requests)]
            try:
                while True:
                    fresh = writer is None
                    if fresh:
                        reader, writer = await asyncio.open_connection(host, int(port))
                    try:
                        status = await asyncio.wait_for(_exchange(reader, writer, request), timeout)
                        break
                    except (ConnectionError, asyncio.IncompleteReadError):
                        writer.close()
                        reader = writer = None
                        if fresh:
                            raise
                        # the server closed this kept-alive connection while it was idle: a new one
                if status == 200:
                    ok += 1
                    latencies.append((time.perf_counter() - scheduled) * 1000)
                else:
                    error(f"HTTP {status}")
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as failure:
                error(type(failure).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(max_in_flight)]
    start = time.perf_counter()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if due.qsize() >= max_in_flight:  # every connection busy and as many again queued
            error("over max in flight")
            continue
        due.put_nowait((i, scheduled))
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return total, ok, errors, latencies, time.perf_counter() - start


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(url: str, pid: int, bodies: list[bytes], rate: int, args: argparse.Namespace) -> Load:
    cpu_before, client_before = _cpu_seconds(pid), time.process_time()
    total, ok, errors, latencies, wall = asyncio.run(
        _drive(url, bodies, rate, args.seconds, args.max_in_flight, args.timeout)
    )
    server_cpu = (_cpu_seconds(pid) - cpu_before) / wall
    client_cpu = (time.process_time() - client_before) / wall
    return Load(rate, args.seconds, total, ok, errors, latencies, wall, server_cpu, client_cpu)


# --- the server ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, extra: list[str]) -> subprocess.Popen:
    import httpx

    cli = [sys.executable, "-m", "platform_assets.cli", "serve", "--port", str(port)]
    cli += ["--decision-log-lines", "100000", *extra]
    env = {**os.environ, "PLATFORM_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(cli, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not become ready")


def landed_decisions(data_dir: Path) -> int:
    folder = data_dir / "landing" / "decisions"
    return sum(len(p.read_bytes().splitlines()) for p in folder.glob("decisions-*.jsonl"))


# --- report ---------------------------------------------------------------------------------------


def table(loads: list[Load]) -> str:
    rows = []
    for load in loads:
        errors = sum(load.errors.values())
        rows.append(
            [
                f"{load.rate}/s x {load.seconds:.0f} s",
                f"{load.sent:,}",
                f"{load.ok / load.wall:,.0f}/s",
                f"{load.percentile(50):.1f}",
                f"{load.percentile(90):.1f}",
                f"{load.percentile(99):.1f}",
                f"{max(load.latencies_ms, default=float('nan')):.0f}",
                f"{errors:,}"
                + (f" ({', '.join(f'{k} {v}' for k, v in load.errors.items())})" if errors else ""),
                f"{load.server_cpu:.2f}",
                f"{load.client_cpu:.2f}",
            ]
        )
    columns = (
        "rate",
        "requests",
        "answered",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "server CPU s/s",
        "generator CPU s/s",
    )
    return report.markdown_table(rows, columns)


def verdict(loads: list[Load]) -> str:
    goal = next((load for load in loads if load.rate == GOAL_RATE), None)
    if goal is None:
        return f"goal (p99 <= {GOAL_P99_MS:.0f} ms, no error at {GOAL_RATE}/s): not measured in this run"
    met = goal.percentile(99) <= GOAL_P99_MS and not goal.errors
    return (
        f"goal (p99 <= {GOAL_P99_MS:.0f} ms and no error at {GOAL_RATE}/s): "
        f"{'met' if met else 'NOT met'} "
        f"(p99 {goal.percentile(99):.1f} ms, {sum(goal.errors.values())} errors)"
    )


def markdown(loads: list[Load], graceful: str, setup: str, command: str, info: dict[str, str]) -> str:
    intro = f"`{command}` (`benchmarks/serving.py`; what is measured and how: its docstring). {setup}"
    title = "serving: POST /predict under a fixed request rate, champion + shadow"
    return report.extra_section(SECTION, title, [intro, table(loads), verdict(loads), graceful], info)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="50,200,500", help="requests per second, comma-separated")
    p.add_argument("--seconds", type=float, default=60.0, help="duration of each rate")
    p.add_argument("--sessions", type=int, default=60_000, help="sessions in the online store")
    p.add_argument("--visitors", type=int, default=20_000, help="visitors owning them")
    p.add_argument("--max-in-flight", type=int, default=256, help="outstanding requests at most")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a request is an error")
    p.add_argument("--serve-args", default="", help="more arguments of `platform-assets serve`")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the RESULTS.md to write into")
    p.add_argument("--no-write", action="store_true", help="print the table only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    info = machine.describe(REPO)
    load_before = " ".join(f"{x:.2f}" for x in machine.load_average())
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as work:
        data_dir = Path(work) / "platform"
        ids = build_data_dir(data_dir, args.sessions, args.visitors)
        bodies = request_bodies(ids, 20_000)
        port = _free_port()
        server = start_server(data_dir, port, shlex.split(args.serve_args))
        try:
            url = f"http://127.0.0.1:{port}"
            warm = run_load(url, server.pid, bodies, 20, argparse.Namespace(**{**vars(args), "seconds": 3}))
            loads = []
            for rate in rates:
                loads.append(run_load(url, server.pid, bodies, rate, args))
                print(table(loads[-1:]), flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        answered = warm.ok + sum(load.ok for load in loads)
        landed = landed_decisions(data_dir)
    load_after = " ".join(f"{x:.2f}" for x in machine.load_average())
    info["load average 1/5/15 min"] = f"{load_before} before, {load_after} after (2 cores, shared)"
    lost = "none lost" if landed >= answered else f"{answered - landed:,} lost"
    graceful = (
        f"Graceful stop (SIGTERM after the last rate): {landed:,} decision-log lines landed for "
        f"{answered:,} answered requests ({lost}; "
        "requests answered after a client timeout count in the log too)."
    )
    setup = (
        f"Online store: {args.sessions:,} sessions of {args.visitors:,} visitors; champion v0001 and "
        "shadow v0002 (logistic regression) score every request; one uvicorn process."
    )
    command = "python -m benchmarks.serving " + shlex.join(argv if argv is not None else sys.argv[1:])
    print(verdict(loads))
    print(graceful)
    if not args.no_write:
        existing = args.out.read_text() if args.out.exists() else report.HEADER
        args.out.write_text(
            report.replace_extra(existing, SECTION, markdown(loads, graceful, setup, command.strip(), info))
        )
        print(f"written to {args.out}")
    return 0 if landed >= answered else 1


if __name__ == "__main__":
    sys.exit(main())
