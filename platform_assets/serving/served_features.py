"""One request's feature row: the batch feature query run over the request and the visitor's
stored sessions (``feature_sql.served_query``), in the snapshot of the online store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from platform_assets.serving.feature_sql import served_query
from platform_assets.serving.online_store import Snapshot

# The request's session id inside the query: never a stored session's (those come from the lake).
REQUEST_SESSION_ID = "(request)"


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


def served_features(snapshot: Snapshot, session: SessionStart) -> pd.DataFrame:
    """The feature row of ``session`` (columns of ``session_features``); empty for a bot, which
    the batch never scores. A visitor the store has not seen gets an empty history: a first visit."""
    params = {
        "day": session.start.date(),
        "session_id": REQUEST_SESSION_ID,
        "visitor_id": session.visitor_id,
        "session_start": session.start,
        "entry_path": session.entry_path,
        "user_agent": session.user_agent,
        "device": session.device,
        "country": session.country,
        "referrer": session.referrer,
    }
    cursor = snapshot.cursor()
    try:
        return cursor.execute(served_query(), params).df()
    finally:
        cursor.close()
