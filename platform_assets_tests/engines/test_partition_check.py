"""A partition write whose rows are not all of its partition fails and leaves the warehouse as it
was: the rows are written straight from the query (no temporary copy) and checked after, so this
rests on the transaction's rollback. Re-materialising a partition replaces it."""

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from platform_assets.engines.base import PartitionWrite, WarehouseRows
from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.sql import SqlDefinition

DAY, OTHER = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


def table(name: str, sql: str) -> SqlDefinition:
    return SqlDefinition(name=name, sql=sql, description=f"test table {name}", partition_column="event_date")


def rows_of(engine: DuckDBEngine, name: str) -> list[tuple]:
    with duckdb.connect(str(engine.layout.warehouse_db), read_only=True) as con:
        return con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


def days(*pairs: tuple[dt.date, int]) -> str:
    return " UNION ALL ".join(f"SELECT DATE '{d}' AS event_date, {v} AS version" for d, v in pairs)


@pytest.fixture
def engine(tmp_path) -> DuckDBEngine:
    engine = DuckDBEngine(data_dir=str(tmp_path), memory_limit="1GB", threads=1)
    list(engine.write_partitions([PartitionWrite(table("mart", days((DAY, 1), (DAY, 2))), {}, DAY)]))
    list(engine.write_partitions([PartitionWrite(table("mart", days((OTHER, 7))), {}, OTHER)]))
    return engine


def test_rewriting_a_partition_replaces_it(engine):
    written = engine.write_partition(table("mart", days((DAY, 3))), {}, DAY)
    assert (written.rows, written.replaced_rows) == (1, 2)
    assert rows_of(engine, "mart") == [(DAY, 3), (OTHER, 7)]


@pytest.mark.parametrize("foreign", [f"DATE '{OTHER}'", "NULL"])
def test_rows_of_another_partition_leave_every_table_as_it_was(engine, foreign):
    before = rows_of(engine, "mart")
    bad = table("mart", f"{days((DAY, 5))} UNION ALL SELECT {foreign}, 6")
    writes = [PartitionWrite(table("other_mart", days((DAY, 1))), {}, DAY), PartitionWrite(bad, {}, DAY)]
    with pytest.raises(ValueError, match=r"mart: 1 rows of the result are not in partition 2026-11-20"):
        list(engine.write_partitions(writes))
    assert rows_of(engine, "mart") == before
    assert not engine.table_exists("other_mart")  # written before it in the same step: rolled back


def test_a_new_table_with_foreign_rows_is_not_created(engine):
    with pytest.raises(ValueError, match="2 rows of the result are not in partition"):
        engine.write_partition(table("fresh", days((DAY, 1), (OTHER, 2), (OTHER, 3))), {}, DAY)
    assert not engine.table_exists("fresh")


def test_a_changed_schema_with_foreign_rows_keeps_the_old_table(engine):
    before = rows_of(engine, "mart")
    changed = table("mart", f"SELECT DATE '{OTHER}' AS event_date, 'x' AS version, 1 AS extra")
    with pytest.raises(ValueError, match="not in partition"):
        engine.write_partition(changed, {}, DAY)
    assert rows_of(engine, "mart") == before


def test_loaded_rows_of_another_partition_leave_the_table_as_it_was(engine):
    before = rows_of(engine, "mart")
    rows = pa.table({"event_date": [DAY, OTHER], "version": pa.array([8, 9], pa.int32())})
    with pytest.raises(ValueError, match="1 rows of the result are not in partition"):
        engine.load_partition(table("mart", ""), rows, DAY, {})
    assert rows_of(engine, "mart") == before
    written = engine.load_partition(table("mart", ""), rows.slice(0, 1), DAY, {})
    assert (written.rows, written.replaced_rows) == (1, 2)
    assert rows_of(engine, "mart") == [(DAY, 8), (OTHER, 7)]


def test_a_table_reading_its_own_partition_sees_it_as_it_was(engine):
    # version + 10 of the partition it replaces: read before the old rows are deleted
    grows = table("mart", "SELECT event_date, version + 10 AS version FROM previous")
    view = WarehouseRows("mart", "event_date", DAY, DAY)
    written = engine.write_partition(grows, {"previous": view}, DAY)
    assert (written.rows, written.replaced_rows) == (2, 2)
    assert rows_of(engine, "mart") == [(DAY, 11), (DAY, 12), (OTHER, 7)]
