"""Column-level lineage of the SQL-defined tables, read from their SQL (not declared by hand).

sqlglot parses each definition and traces every output column back through its CTEs to the
columns of its input views; each view is an upstream asset (the definition's ``inputs``), so the
result is Dagster's ``dagster/column_lineage``. Columns that depend on no input column (a
``count(*)``, a constant) have no entry.
"""

from __future__ import annotations

import functools

import dagster as dg

from platform_assets.sql import SqlDefinition, load


def _asset_key(key: str) -> dg.AssetKey:
    return dg.AssetKey(key.split("/"))


@functools.lru_cache(maxsize=64)
def _column_sources(
    sql: str, views: tuple[str, ...], lake_views: bool
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Output column -> sorted (view, column) pairs it is computed from."""
    import sqlglot  # imported when a table is materialized, not when the definitions load
    from sqlglot import exp
    from sqlglot.lineage import lineage

    # the lake's columns are documented, so ``*`` over a lake view can be expanded
    lake_columns = {column: "VARCHAR" for column in load("lake/events").columns}
    schema = {view: lake_columns for view in views} if lake_views else None
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    sources: dict[str, tuple[tuple[str, str], ...]] = {}
    for select in tree.selects:
        column = select.alias_or_name
        found: set[tuple[str, str]] = set()
        for node in lineage(column, tree, schema=schema, dialect="duckdb").walk():
            if node.downstream or not isinstance(node.source, exp.Table):
                continue
            view = node.source.name
            if view in views:
                found.add((view, node.name.split(".")[-1]))
        if found:
            sources[column] = tuple(sorted(found))
    return sources


def column_lineage(definition: SqlDefinition) -> dg.TableColumnLineage:
    """Which columns of which upstream assets feed each column of ``definition``'s table."""
    lake_views = all(key.startswith("lake/") for key in definition.inputs.values())
    sources = _column_sources(definition.sql, tuple(sorted(definition.inputs)), lake_views)
    deps_by_column = {}
    for column, pairs in sources.items():
        # two views may read the same asset
        upstream = sorted({(definition.inputs[view], name) for view, name in pairs})
        deps_by_column[column] = [
            dg.TableColumnDep(asset_key=_asset_key(key), column_name=name) for key, name in upstream
        ]
    return dg.TableColumnLineage(deps_by_column=deps_by_column)
