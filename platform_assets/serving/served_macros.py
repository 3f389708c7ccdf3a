"""DuckDB builtins the served query calls, redefined in the online store's database so that
binding them stays linear: planning, not rows, is what a served query costs.

DuckDB defines ``split_part`` as a macro naming its ``string`` argument twice, and the feature
SQL nests it five deep (the referrer's host): binding expanded the innermost argument 32 times,
about 8 ms of every served query (measured on DuckDB 2.0). The macro here, of the same name in the
database's main schema (resolved before the builtin), names it once and gives the builtin's value
for every string, delimiter and position >= 1 (the feature SQL's positions are 1 and 2;
``test_served_macros.py`` compares the two). The batch runs the builtin; the skew test holds the
served features equal to the batch's.
"""

from __future__ import annotations

SERVED_MACROS = (
    "CREATE OR REPLACE MACRO split_part(string, delimiter, position) AS "
    "list_resize(string_split(string, delimiter), position, '')[position]",
)
