"""Requests' feature rows: the batch feature query run over a batch of requests and their visitors'
stored sessions (``feature_sql.served_query``), in the snapshot of the online store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from platform_assets.serving.feature_sql import REQUEST_COLUMNS, served_query
from platform_assets.serving.online_store import Snapshot

# A request's session id inside the query: never a stored session's (those come from the lake).
REQUEST_SESSION_ID = "(request {})"
_REQUESTS_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("session_id", pa.string()),
        ("visitor_id", pa.string()),
        ("session_start", pa.timestamp("us")),
        ("entry_path", pa.string()),
        ("user_agent", pa.string()),
        ("declared_device", pa.string()),
        ("country", pa.string()),
        ("referrer", pa.string()),
    ]
)
if tuple(_REQUESTS_SCHEMA.names) != REQUEST_COLUMNS:  # the served query reads these columns
    raise ImportError(f"requests schema {_REQUESTS_SCHEMA.names} is not {REQUEST_COLUMNS}")


@dataclass(frozen=True)
class SessionStart:
    """What an application knows when a session starts (times naive UTC, as in the warehouse)."""

    visitor_id: str
    start: dt.datetime
    entry_path: str
    referrer: str | None = None
    user_agent: str | None = None
    device: str | None = None
    country: str | None = None


def served_features_batch(snapshot: Snapshot, sessions: Sequence[SessionStart]) -> pd.DataFrame:
    """The feature rows (columns of ``session_features``) of ``sessions``, indexed by their
    position in ``sessions``; a bot has no row (the batch never scores one). One query for the
    whole batch: the planning cost of the batch SQL is paid once, not per request."""
    requests = pa.Table.from_pylist(
        [
            {
                "day": s.start.date(),
                "session_id": REQUEST_SESSION_ID.format(i),
                "visitor_id": s.visitor_id,
                "session_start": s.start,
                "entry_path": s.entry_path,
                "user_agent": s.user_agent,
                "declared_device": s.device,
                "country": s.country,
                "referrer": s.referrer,
            }
            for i, s in enumerate(sessions)
        ],
        schema=_REQUESTS_SCHEMA,
    )
    cursor = snapshot.cursor()
    try:
        cursor.register("requests", requests)
        rows = cursor.execute(served_query()).df()
    finally:
        cursor.close()
    position = rows["session_id"].str.slice(len("(request "), -1).astype(int)
    return rows.set_index(position.rename(None)).sort_index()


def served_features(snapshot: Snapshot, session: SessionStart) -> pd.DataFrame:
    """The feature row of ``session`` (columns of ``session_features``); empty for a bot, which
    the batch never scores. A visitor the store has not seen gets an empty history: a first visit."""
    return served_features_batch(snapshot, [session]).reset_index(drop=True)
