"""The online store's database redefines DuckDB's split_part (served_macros.py): the same value as
the builtin for every string, delimiter and position >= 1, and a linear expansion when nested."""

import duckdb
import pytest

from platform_assets.serving.served_macros import SERVED_MACROS

STRINGS = [
    None,
    "",
    "https://www.google.com/search?q=a#top",
    "http://user@host.example:8080/path",
    "://x:8/y?z#w",
    "a:b://c",
    "//",
    "/",
    "///a//",
    "été/ß://ü",
    "no delimiter at all",
]
DELIMITERS = ["/", "?", "#", ":", "://", "//", "é"]


@pytest.fixture(scope="module")
def databases():
    builtin, served = duckdb.connect(), duckdb.connect()
    for statement in SERVED_MACROS:
        served.execute(statement)
    yield builtin, served
    builtin.close()
    served.close()


def test_split_part_is_the_builtins_for_every_string_delimiter_and_position(databases):
    builtin, served = databases
    query = "SELECT split_part(CAST(? AS VARCHAR), ?, ?)"
    for string in STRINGS:
        for delimiter in DELIMITERS:
            for position in range(1, 6):
                expected = builtin.execute(query, [string, delimiter, position]).fetchone()
                assert served.execute(query, [string, delimiter, position]).fetchone() == expected, (
                    string,
                    delimiter,
                    position,
                )


def test_a_query_on_the_stores_snapshot_calls_the_served_macro(tmp_path):
    """Position 0 (never the feature SQL's) is where the two differ: '' from the builtin, NULL here."""
    from platform_assets.serving.online_store import load_snapshot, read_pointer, store_root
    from platform_assets_tests.serving.support import publish

    publish(tmp_path, "2026-03-10", [])
    snapshot = load_snapshot(store_root(tmp_path), read_pointer(store_root(tmp_path)))
    query = "SELECT split_part(CAST(? AS VARCHAR), '/', 0)"
    assert duckdb.connect().execute(query, ["a/b"]).fetchone() == ("",)
    assert snapshot.cursor().execute(query, ["a/b"]).fetchone() == (None,)
