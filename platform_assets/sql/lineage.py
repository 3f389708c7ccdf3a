"""Column-level lineage of the SQL-defined tables, traced from their SQL (never declared by hand).

sqlglot parses each definition and follows every output column back through its CTEs to the
columns of its input views; each view is an upstream asset (the definition's ``inputs``), so the
result is Dagster's ``dagster/column_lineage``. Columns computed from no input column (a
``count(*)``, a constant) have no entry.

Tracing takes about 0.4 s per table, too slow for every run, so it is done when the SQL changes:
``python -m platform_assets.sql.lineage`` writes ``sql/column_lineage.json`` (committed, shipped with
the package), and runs only read that file. A test traces again and fails if the file is stale.
"""

from __future__ import annotations

import functools
import json
import sys
from importlib import resources
from pathlib import Path

import dagster as dg

from platform_assets.sql import SqlDefinition, load, load_folder

LINEAGE_FILE = "column_lineage.json"
TRACED_FOLDERS = ("marts", "features")

# table -> output column -> sorted [upstream asset key, upstream column] pairs
Lineage = dict[str, dict[str, list[list[str]]]]


def trace(definition: SqlDefinition) -> dict[str, list[list[str]]]:
    """Output column -> the (asset key, column) pairs it is computed from, traced with sqlglot."""
    import sqlglot  # a development dependency: runs read the traced file
    from sqlglot import exp
    from sqlglot.lineage import lineage

    views = set(definition.inputs)
    # the lake's columns are documented, so ``*`` over a lake view can be expanded
    lake_columns = {column: "VARCHAR" for column in load("lake/events").columns}
    lake_only = all(key.startswith("lake/") for key in definition.inputs.values())
    schema = {view: lake_columns for view in views} if lake_only else None
    tree = sqlglot.parse_one(definition.sql, dialect="duckdb")
    traced: dict[str, list[list[str]]] = {}
    for select in tree.selects:
        column = select.alias_or_name
        found: set[tuple[str, str]] = set()
        for node in lineage(column, tree, schema=schema, dialect="duckdb").walk():
            if node.downstream or not isinstance(node.source, exp.Table) or node.source.name not in views:
                continue
            # two views may read the same asset (features: target and history sessions)
            found.add((definition.inputs[node.source.name], node.name.split(".")[-1]))
        if found:
            traced[column] = [list(pair) for pair in sorted(found)]
    return traced


def trace_all() -> Lineage:
    return {d.name: trace(d) for folder in TRACED_FOLDERS for d in load_folder(folder)}


@functools.cache
def _traced() -> Lineage:
    text = resources.files("platform_assets.sql").joinpath(LINEAGE_FILE).read_text("utf-8")
    return json.loads(text)


def column_lineage(definition: SqlDefinition) -> dg.TableColumnLineage:
    """Which columns of which upstream assets feed each column of ``definition``'s table."""
    traced = _traced().get(definition.name)
    if traced is None:
        raise LookupError(
            f"no column lineage traced for {definition.name!r}: run `python -m platform_assets.sql.lineage`"
        )
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=dg.AssetKey(key.split("/")), column_name=name)
                for key, name in pairs
            ]
            for column, pairs in traced.items()
        }
    )


def main() -> int:
    """Trace every table and write ``sql/column_lineage.json``."""
    target = Path(__file__).parent / LINEAGE_FILE
    target.write_text(json.dumps(trace_all(), indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
