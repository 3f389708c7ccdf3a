"""Checks every SQL-defined table gets from its header, one factory for marts and features alike.

- ``keys_not_null_and_unique`` (blocking): the header's ``grain`` columns identify the rows of the
  partition: none is NULL and no combination appears twice.
- ``rates_within_0_1`` (blocking, only for tables that have rate or share columns: a column named
  ``*_rate``, ``rate_*``, ``*_share`` ...): every value is NULL or between 0 and 1.

They read the day's rows from the warehouse, read-only.
"""

import re

import dagster as dg

from platform_assets.layers.common.checks import Check, CheckRun, check, offender_result
from platform_assets.sql import SqlDefinition

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_RATE = re.compile(r"(^|_)(rate|share)(_|$)")


def identifier(name: str) -> str:
    """A table or column name from a SQL header, refused unless it is a plain identifier."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return name


def partition_rows(definition: SqlDefinition) -> str:
    """The table's rows of the day given as the query's next parameter (a YYYY-MM-DD string)."""
    table, column = identifier(definition.name), identifier(definition.partition_column or "event_date")
    return f"(SELECT * FROM main.{table} WHERE {column} = CAST(? AS DATE))"


def partition_range_rows(definition: SqlDefinition) -> str:
    """The table's rows of the days from the query's next parameter to the one after (YYYY-MM-DD)."""
    table, column = identifier(definition.name), identifier(definition.partition_column or "event_date")
    return f"(SELECT * FROM main.{table} WHERE {column} BETWEEN CAST(? AS DATE) AND CAST(? AS DATE))"


def rate_columns(definition: SqlDefinition) -> list[str]:
    return [identifier(c) for c in definition.columns if _RATE.search(c)]


def keys_check(definition: SqlDefinition, layer: str) -> Check:
    """``keys_not_null_and_unique`` for the table of ``definition``."""
    grain = [identifier(c) for c in definition.grain]
    keys = ", ".join(grain)
    any_null = " OR ".join(f"{c} IS NULL" for c in grain)

    @check(
        dg.AssetKey([layer, definition.name]),
        "keys_not_null_and_unique",
        blocking=True,
        description=f"The grain ({keys}, from the SQL header) identifies each row of the day: no key "
        "column is NULL and no key appears twice.",
    )
    def keys_not_null_and_unique(run: CheckRun, day: str) -> dg.AssetCheckResult:
        rows = run.warehouse(
            f"WITH k AS (SELECT {keys}, count(*) AS copies FROM {partition_rows(definition)} GROUP BY ALL) "
            f"SELECT {keys}, copies, CASE WHEN {any_null} THEN 'NULL in key' ELSE 'duplicate key' END "
            f"AS problem, count(*) OVER () AS offending FROM k WHERE copies > 1 OR {any_null} "
            "ORDER BY copies DESC LIMIT 5",
            [day],
        )
        total = run.warehouse(f"SELECT count(*) AS n FROM {partition_rows(definition)}", [day])
        return offender_result(
            rows,
            "offending_keys",
            f"{{count}} keys of {definition.name} {day} are NULL or repeated",
            rows=int(total["n"][0]),
            grain=keys,
        )

    return keys_not_null_and_unique


def rates_check(definition: SqlDefinition, layer: str) -> Check | None:
    """``rates_within_0_1`` for a table with rate columns, else None."""
    rates = rate_columns(definition)
    if not rates:
        return None
    keys = ", ".join(identifier(c) for c in definition.grain)
    outside = " OR ".join(f"NOT ({c} BETWEEN 0 AND 1)" for c in rates)  # NaN sorts above 1 in DuckDB

    @check(
        dg.AssetKey([layer, definition.name]),
        "rates_within_0_1",
        blocking=True,
        description=f"Rates ({', '.join(rates)}) are NULL or between 0 and 1.",
    )
    def rates_within_0_1(run: CheckRun, day: str) -> dg.AssetCheckResult:
        rows = run.warehouse(
            f"SELECT {keys}, {', '.join(rates)}, count(*) OVER () AS offending "
            f"FROM {partition_rows(definition)} WHERE {outside} ORDER BY {keys} LIMIT 5",
            [day],
        )
        return offender_result(
            rows,
            "rows_outside_0_1",
            f"{{count}} rows of {definition.name} {day} have a rate outside [0, 1]",
            rate_columns=dg.MetadataValue.json(rates),
        )

    return rates_within_0_1


def table_checks(definition: SqlDefinition, layer: str) -> list[Check]:
    """Every header-driven check that applies to the table of ``definition``."""
    return [c for c in (keys_check(definition, layer), rates_check(definition, layer)) if c is not None]
