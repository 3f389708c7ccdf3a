"""A request's entry event type and device, by the lake's own expressions (never rewritten).

``sql/lake/parse_lines.sql`` derives a line's ``path`` (the target without its query string),
``event_type`` (from the path) and ``device`` (declared by the app, else from the user agent).
:func:`entry_sql` lifts those expressions out of that file with sqlglot and applies them to a
request's entry path, user agent and declared device (columns ``entry_path``, ``user_agent``,
``declared_device`` of the relation ``requests``), so a served session is typed as its logged
events are.
"""

from __future__ import annotations

from functools import cache

from platform_assets.sql import load

LAKE_SQL = "lake/parse_lines"
# (CTE, alias) of each expression taken from the lake SQL
EXPRESSIONS = {
    "ua_lower": ("checked", "ua_lower"),
    "path": ("normalised", "path"),
    "device": ("normalised", "device"),
    "event_type": ("typed", "event_type"),
}


def lake_expression(tree, cte_name: str, alias: str) -> str:
    """The DuckDB text of the select expression ``alias`` of CTE ``cte_name``."""
    from sqlglot import exp

    for cte in tree.find_all(exp.CTE):
        if cte.alias == cte_name:
            for select in cte.this.selects:
                if isinstance(select, exp.Alias) and select.alias == alias:
                    return select.this.sql(dialect="duckdb")
    raise LookupError(f"{LAKE_SQL}.sql has no {alias!r} in CTE {cte_name!r}: the served entry must follow it")


@cache
def entry_sql() -> str:
    """Each row of ``requests`` with ``device`` and ``event_type`` of its entry, as the lake would
    type them."""
    import sqlglot

    tree = sqlglot.parse_one(load(LAKE_SQL).sql, dialect="duckdb")
    e = {name: lake_expression(tree, *where) for name, where in EXPRESSIONS.items()}
    return (
        f"SELECT *, {e['device']} AS device, {e['event_type']} AS event_type FROM (\n"
        f"  SELECT *, {e['path']} AS path, {e['ua_lower']} AS ua_lower FROM (\n"
        "    SELECT r.day, r.session_id, r.visitor_id, r.session_start, r.country, r.referrer,\n"
        "      CAST(r.entry_path AS VARCHAR) AS target, CAST(r.user_agent AS VARCHAR) AS user_agent,\n"
        "      lower(CAST(r.declared_device AS VARCHAR)) AS declared_device,\n"
        "      CAST(NULL AS VARCHAR) AS reject_reason\n"
        "    FROM requests AS r\n"
        "  ) AS request\n) AS entry"
    )
