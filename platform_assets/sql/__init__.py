"""The platform's SQL: one file per lake transform, mart and feature table.

Each file starts with a YAML front matter in a block comment, then plain SQL that DuckDB and
Spark SQL both accept (the few functions spelled differently are defined per engine in
``engines/dialect.py``)::

    /* ---
    description: One line shown in the Dagster UI.
    inputs: {events: lake/events}       # view name in the SQL -> asset key it reads
    grain: [event_date, path]           # the columns that identify a row (checked: unique, not null)
    partition_column: event_date        # rows of one partition are replaced on each run
    columns: {requests: Number of requests}
    types: {ts: TIMESTAMP}              # lake tables: column types, checked per Parquet file
    --- */
    SELECT ...

The header is the single place where a query's name, description, inputs and grain live, so a new
mart is a new file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

_FRONT_MATTER = re.compile(r"\A\s*/\*\s*---\s*\n(?P<header>.*?)\n\s*---\s*\*/\s*\n(?P<body>.*)\Z", re.S)


@dataclass(frozen=True)
class SqlDefinition:
    """A query and what its header says about it."""

    name: str
    sql: str
    description: str
    inputs: dict[str, str] = field(default_factory=dict)
    grain: tuple[str, ...] = ()
    partition_column: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def parse_sql_definition(name: str, text: str) -> SqlDefinition:
    """Split a SQL file into its YAML header and its body."""
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ValueError(f"{name}: SQL file must start with a /* --- yaml --- */ header")
    header = yaml.safe_load(match.group("header")) or {}
    if not isinstance(header, dict) or not header.get("description"):
        raise ValueError(f"{name}: header needs at least a description")
    known = {"description", "inputs", "grain", "partition_column", "columns"}
    return SqlDefinition(
        name=name,
        sql=match.group("body").strip().rstrip(";"),
        description=str(header["description"]).strip(),
        inputs={str(k): str(v) for k, v in (header.get("inputs") or {}).items()},
        grain=tuple(header.get("grain") or ()),
        partition_column=header.get("partition_column"),
        columns={str(k): str(v) for k, v in (header.get("columns") or {}).items()},
        meta={k: v for k, v in header.items() if k not in known},
    )


@cache
def load(path: str) -> SqlDefinition:
    """Load ``<folder>/<name>`` (without ``.sql``), e.g. ``load("marts/daily_traffic")``."""
    folder, _, name = path.rpartition("/")
    text = resources.files(__package__).joinpath(folder, f"{name}.sql").read_text("utf-8")
    return parse_sql_definition(name, text)


def load_folder(folder: str) -> list[SqlDefinition]:
    """Every definition in a folder, sorted by name (the warehouse factory builds one asset each)."""
    files = resources.files(__package__).joinpath(folder).iterdir()
    names = sorted(f.name[: -len(".sql")] for f in files if f.name.endswith(".sql"))
    return [load(f"{folder}/{name}") for name in names]
