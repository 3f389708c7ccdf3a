"""The access-log fields of the engine's ``parse_clf`` are the groups of ``CLF_PATTERN``, and the
plain-line shape (``CLF_PLAIN_PATTERN``, for a split-based fast path) only admits lines the full
pattern reads, on lines chosen to sit on the edges between the two."""

from __future__ import annotations

from contextlib import closing

import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib.layout import sql_string
from platform_assets.lib.log_formats import CLF_FIELDS, CLF_PATTERN, CLF_PLAIN_PATTERN

pytestmark = pytest.mark.unit

_HEAD = '1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326'
EDGE_LINES = [
    _HEAD,
    _HEAD + ' "http://r/" "Mozilla/5.0 (X11)"',
    _HEAD + ' "http://r/" "Mozilla/5.0 (X11)" "0.271"',
    _HEAD + ' "http://r/" "Mozilla/5.0 (X11)" 0.271',
    _HEAD + ' "http://r/" "Mozilla/5.0 (X11)"   0.271',
    _HEAD + ' "http://r/" "UA" 0.2 "x"',  # two trailing fields
    _HEAD + ' "http://r/" "UA" ',  # trailing space
    _HEAD + ' "http://r/"  "UA"',  # two spaces: not the combined format
    _HEAD + ' "only one"',
    _HEAD + "  tok",
    _HEAD + ' tok"en',  # a quote inside a bare trailing field
    _HEAD + ' "ref" "say \\"hi\\""',  # escaped quotes
    _HEAD + ' "ref" "back\\\\slash"',
    _HEAD + ' "ref" "open',  # a quote left open
    _HEAD + ' "ref" "tab\there" "é ü 漢"',
    _HEAD + ' "" ""',
    _HEAD.replace("2326", "-") + ' "-" "-"',
    _HEAD.replace("1.2.3.4", 'ho"st') + ' "r" "u"',
    _HEAD.replace("1.2.3.4", "[::1]") + ' "r" "u"',
    _HEAD.replace("10/Oct", "[10/Oct") + ' "r" "u"',
    _HEAD.replace('"GET /a?b=1 HTTP/1.1"', '"GET /a \\" 200 1 HTTP/1.1"') + ' "r" "u"',
    _HEAD.replace(" 200 ", " 20 ") + ' "r" "u"',
    _HEAD + ' "r" "u"\t',
    'é ü 漢 [t] "GET / HTTP/1.0" 404 0 "r" "u"',
    "not an access-log line",
    "",
]


def test_parse_clf_gives_the_groups_of_the_full_pattern_and_plain_lines_all_match_it(tmp_path):
    names = "[" + ", ".join(sql_string(n) for n in CLF_FIELDS) + "]"
    with closing(DuckDBEngine(data_dir=str(tmp_path)).connect()) as con:
        con.execute("CREATE TEMP TABLE lines (n INTEGER, text VARCHAR)")
        con.executemany("INSERT INTO lines VALUES (?, ?)", list(enumerate(EDGE_LINES)))
        rows = con.execute(
            f"SELECT n, parse_clf(text) = regexp_extract(text, {sql_string(CLF_PATTERN)}, {names}), "
            f"regexp_full_match(text, {sql_string(CLF_PLAIN_PATTERN)}), "
            f"regexp_matches(text, {sql_string(CLF_PATTERN)}) FROM lines ORDER BY n"
        ).fetchall()
    assert [n for n, same, _, _ in rows if not same] == []
    plain = [n for n, _, is_plain, _ in rows if is_plain]
    assert all(matches for _, _, is_plain, matches in rows if is_plain)
    # plain: at most one trailing field, no quote or backslash in a field, no trailing space
    assert plain == [0, 1, 2, 3, 4, 8, 9, 14, 15, 16, 18, 19, 23]
