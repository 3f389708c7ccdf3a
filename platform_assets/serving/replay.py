"""Replaying built days against a running prediction service (``platform-assets simulate-traffic``).

Each non-bot session of a built day is asked of the service as its application would have asked
at the session's start: the visitor, the start, the entry event's path (query string included),
user agent and declared device as the lake read them, the referrer and country, and the session id,
so the A/B result joins every answer to the session's realized outcome exactly. The outcomes are
the generator's (or the real logs'): what the models are judged on is what happened, and a
difference between two arms is a true difference between the models that answered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import duckdb

from platform_assets.lib.layout import DataLayout, sql_string, validate_day

DECLARED_DEVICES = ("desktop", "mobile", "tablet")


def session_requests(layout: DataLayout, day: dt.date | str) -> list[dict]:
    """The ``POST /predict`` bodies of every non-bot session that began on ``day``, by start time.
    ValueError when the day has no session features (build it first)."""
    day = validate_day(day)
    files = "[" + ", ".join(sql_string(str(p)) for p in layout.day_fragments(day)) + "]"
    if files == "[]" or not layout.warehouse_db.exists():
        raise ValueError(f"{day} is not built: ingest its logs and run build_day for it first")
    with duckdb.connect(str(layout.warehouse_db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "session_features" not in tables:
            raise ValueError(f"{day} is not built: no session_features table yet")
        rows = con.execute(
            f"""
            WITH entry AS (
                SELECT session_id, path, query_string, user_agent, device,
                       row_number() OVER (PARTITION BY session_id ORDER BY ts, source_file, source_line) AS n
                FROM read_parquet({files})
            )
            SELECT f.session_id, f.visitor_id, f.session_start, s.referrer, s.country,
                   e.path, e.query_string, e.user_agent, e.device
            FROM session_features AS f
            JOIN sessions AS s USING (event_date, session_id)
            JOIN entry AS e ON e.session_id = f.session_id AND e.n = 1
            WHERE f.event_date = CAST(? AS DATE)
            ORDER BY f.session_start, f.session_id
            """,
            [day],
        ).fetchall()
    return [
        {
            "visitor_id": visitor,
            "session_id": session,
            "time": start.isoformat() + "Z",
            "entry_path": path + (f"?{query}" if query else ""),
            "referrer": referrer,
            "user_agent": agent,
            "device": device if device in DECLARED_DEVICES else None,
            "country": country,
        }
        for session, visitor, start, referrer, country, path, query, agent, device in rows
    ]


@dataclass
class Replayed:
    """What a replay got back: answers per arm and version, and every error by kind."""

    answered: int = 0
    by_arm: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        arms = ", ".join(f"{arm} {version}: {n:,}" for (arm, version), n in sorted(self.by_arm.items()))
        errors = ", ".join(f"{kind}: {n:,}" for kind, n in sorted(self.errors.items())) or "none"
        return f"{self.answered:,} answered ({arms}); errors: {errors}"


async def _replay(url: str, bodies: list[dict], concurrency: int, timeout: float) -> Replayed:
    import httpx

    replayed = Replayed()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait({k: v for k, v in body.items() if v is not None})

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                try:
                    answer = await client.post("/predict", json=body)
                except httpx.HTTPError as error:
                    replayed.errors[type(error).__name__] += 1
                    continue
                if answer.status_code != 200:
                    replayed.errors[f"HTTP {answer.status_code}"] += 1
                    continue
                got = answer.json()
                replayed.answered += 1
                replayed.by_arm[(got["arm"], got["model_version"])] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return replayed


def replay(url: str, bodies: list[dict], *, concurrency: int = 16, timeout: float = 30.0) -> Replayed:
    """POST every body to ``url``/predict, ``concurrency`` at a time (the server batches them)."""
    return asyncio.run(_replay(url, bodies, concurrency, timeout))
