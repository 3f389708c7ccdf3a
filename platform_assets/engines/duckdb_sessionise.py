"""Sessionising a file's access-log lines in DuckDB within the engine's memory limit.

``lake/events`` sorts the lines that carry no session by visitor and time (two windows) and joins
each line's session back to its wide row. Past the memory limit DuckDB spills those sorts and the
materialised wide lines to disk: 10M combined-format lines under the engine's default 2 GB limit
took 27.7 s, with 3-4 GB spilled under ``tmp/``. Sessions never span visitors, so the lines are
sessionised in buckets of visitors (``hash(visitor_id) % n``), one query per bucket, each small
enough to stay in memory: 16.8 s for the same lines in 4 buckets (2 buckets 20.4 s, 3 19.5 s,
8 17.9 s, 16 22.8 s; a 2-core machine, 2026-12-07). Every line falls in exactly one bucket (a
NULL visitor too: its hash is a constant) and all lines of a session in its visitor's, so the
events are those of one query over all the lines; a file of up to a bucket's lines is one query.
"""

from __future__ import annotations

import math
import re

import duckdb

# Lines per bucket per GiB of the connection's memory limit: 2.5M under the default 2 GB (1.8 GiB
# as DuckDB reports it), the fastest bucket size measured above.
LINES_PER_GIB = 1_400_000
_UNITS = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_UNITS |= {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's memory limit in bytes (DuckDB reports it as e.g. '1.8 GiB')."""
    (setting,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", str(setting))
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"unreadable DuckDB memory_limit {setting!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def visitor_buckets(con: duckdb.DuckDBPyConnection, lines: int) -> list[str]:
    """SQL conditions on ``visitor_id``, one per bucket, that together take every line once:
    ``["TRUE"]`` when ``lines`` fit one bucket under the connection's memory limit."""
    per_bucket = max(1, int(LINES_PER_GIB * memory_limit_bytes(con) / 2**30))
    buckets = max(1, math.ceil(lines / per_bucket))
    if buckets == 1:
        return ["TRUE"]
    return [f"hash(visitor_id) % {buckets} = {bucket}" for bucket in range(buckets)]
