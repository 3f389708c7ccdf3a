"""The served features' SQL, composed from ``sql/features/session_features.sql`` (never rewritten).

The batch feature table is the one definition. Two queries are cut from it:

- :func:`store_query`: its ``whole_sessions`` CTE (with the CTEs it reads) over the same views the
  batch reads for a day, kept non-bot: the online store's rows (``features/visitor_history``).
- :func:`served_query`: the rest of the batch query, the CTEs after ``whole_sessions`` and the
  final SELECT, over a batch of requests (``target_sessions``) and ``whole_sessions`` given as the
  stored rows of the batch's visitors (what the store holds IS that CTE's rows) plus each request's
  own session. The entry context (referrer class, calendar, login), the 28-day ``prior``
  aggregation and every cast are the batch's own text. The CTEs before ``whole_sessions`` fold the
  warehouse's rows into whole sessions: in serving that was done when the store was built, and
  DuckDB would plan them on every request for nothing.

The file's CTEs are split on its layout (``name AS (`` ... ``)`` at the start of a line, the final
SELECT after the last); :func:`split_ctes` refuses a file it cannot cut back into itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from platform_assets.serving.entry_context import entry_sql
from platform_assets.sql import SqlDefinition, load

FEATURES = "features/session_features"
STORED = "whole_sessions"  # the CTE whose rows the online store holds
# what the online store keeps of a whole session: what the batch's history part reads of it
STORE_COLUMNS = ("visitor_id", "session_id", "first_day", "session_end", "converted", "page_views")
_CTE_START = re.compile(r"^(?:WITH\s+)?(?P<name>\w+) AS \($", re.M)
_CTE_END = re.compile(r"^\),?$", re.M)


@dataclass(frozen=True)
class FeatureQuery:
    """A query's leading text (comments), its CTEs in order (name -> body) and its final SELECT."""

    preamble: str
    ctes: dict[str, str]
    select: str


def split_ctes(sql: str) -> FeatureQuery:
    """Cut ``WITH a AS (...), b AS (...) SELECT ...`` into its parts (see the module docstring)."""
    ctes: dict[str, str] = {}
    position, preamble = 0, None
    while (start := _CTE_START.search(sql, position)) is not None:
        if preamble is None:
            preamble = sql[: start.start()]
            if not start.group(0).startswith("WITH"):
                raise ValueError(f"expected WITH before the first CTE {start.group('name')!r}")
        elif sql[position : start.start()].strip().strip(",").strip() and not _only_comments(
            sql[position : start.start()]
        ):
            raise ValueError(f"unexpected text before CTE {start.group('name')!r}")
        end = _CTE_END.search(sql, start.end())
        if end is None:
            raise ValueError(f"CTE {start.group('name')!r} is not closed by a ')' line")
        ctes[start.group("name")] = sql[start.end() : end.start()].strip("\n")
        position = end.end()
    if preamble is None:
        raise ValueError("no CTE found: the feature SQL must be WITH name AS ( ... ) ... SELECT")
    return FeatureQuery(preamble=preamble, ctes=ctes, select=sql[position:].strip("\n"))


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def join_ctes(ctes: dict[str, str], select: str) -> str:
    """``WITH`` the CTEs, in order, then ``select``."""
    parts = [f"{name} AS (\n{body}\n)" for name, body in ctes.items()]
    return "WITH " + ",\n\n".join(parts) + "\n\n" + select


def definition() -> SqlDefinition:
    return load(FEATURES)


@cache
def _parts() -> FeatureQuery:
    return split_ctes(definition().sql)


def _upto(name: str) -> dict[str, str]:
    """The CTEs up to and including ``name`` (a CTE reads only the ones before it)."""
    ctes = _parts().ctes
    names = list(ctes)
    return {n: ctes[n] for n in names[: names.index(name) + 1]}


@cache
def store_query() -> str:
    """The whole non-bot sessions the batch's history part sees on the day its views show:
    every session begun in the history view's days, as the lookahead events complete it."""
    columns = ", ".join(f"w.{c}" for c in STORE_COLUMNS if c != "page_views")
    return join_ctes(
        _upto(STORED),
        f"SELECT {columns}, CAST(w.page_views AS BIGINT) AS page_views\n"
        "FROM whole_sessions AS w\nWHERE w.is_bot = FALSE\nORDER BY w.visitor_id, w.first_day, w.session_id",
    )


# A batch of requests as the two relations the served query starts from (``requests``: one row per
# request, the columns of :data:`REQUEST_COLUMNS`). Each request is a session on its first day
# (``target_sessions``, typed as the warehouse's sessions are). ``whole_sessions`` is the stored
# whole sessions of the batch's visitors, plus each request's own session: the targets CTE finds a
# request there (its label, unknown yet, is 0); it is marked a bot there, so the history part
# (which counts non-bot sessions only) never counts it, for itself or for another request of the
# same visitor in the batch.
REQUEST_COLUMNS = (
    "day",
    "session_id",
    "visitor_id",
    "session_start",
    "entry_path",
    "user_agent",
    "declared_device",
    "country",
    "referrer",
)
SERVED_VIEWS = {
    "target_sessions": """    SELECT
        CAST(e.day AS DATE) AS event_date,
        CAST(e.session_id AS VARCHAR) AS session_id,
        CAST(e.visitor_id AS VARCHAR) AS visitor_id,
        CAST(e.session_start AS TIMESTAMP) AS session_start,
        e.event_type AS entry_event_type,
        e.device,
        CAST(e.country AS VARCHAR) AS country,
        CAST(e.referrer AS VARCHAR) AS referrer,
        e.device = 'bot' AS is_bot
    FROM (ENTRY) AS e""",
    STORED: """    SELECT
        s.session_id, s.first_day, s.visitor_id, FALSE AS is_bot, s.session_end, s.converted, s.page_views
    FROM visitor_history AS s
    WHERE s.visitor_id IN (SELECT CAST(r.visitor_id AS VARCHAR) FROM requests AS r)
    UNION ALL
    SELECT t.session_id, t.event_date, t.visitor_id, TRUE, t.session_start, 0, 0
    FROM target_sessions AS t""",
}


def _after_stored() -> dict[str, str]:
    """The CTEs after :data:`STORED`, checked to read no relation before it but the
    ``target_sessions`` input (the served query provides no other)."""
    ctes, inputs = _parts().ctes, definition().inputs
    names = list(ctes)
    if STORED not in ctes or "target_sessions" not in inputs:
        raise ValueError(f"{FEATURES} no longer has the CTE {STORED!r} and the input target_sessions")
    tail = {n: ctes[n] for n in names[names.index(STORED) + 1 :]}
    text = _without_comments("\n".join([*tail.values(), _parts().select]))
    before = {*inputs, *names[: names.index(STORED)]} - {"target_sessions"}
    read = sorted(n for n in before if re.search(rf"\b{n}\b", text))
    if read:
        raise ValueError(f"{FEATURES} reads {read} after {STORED!r}: the served query must follow it")
    return tail


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


@cache
def served_query() -> str:
    """The batch feature query for a batch of requests (the relation ``requests``, columns
    :data:`REQUEST_COLUMNS`, session ids unique) over the in-memory table ``visitor_history``
    (:data:`STORE_COLUMNS`): one row per request's ``session_id``, none for a bot (the batch
    keeps none)."""
    views = {
        **SERVED_VIEWS,
        "target_sessions": SERVED_VIEWS["target_sessions"].replace("ENTRY", entry_sql()),
    }
    return join_ctes({**views, **_after_stored()}, _parts().select)
