"""The log formats the platform reads, as data: field names, the access-log pattern, time formats.

JSON lines carry one event object per line (schema in docs/input_formats.md). Access logs are the Apache/Nginx
*combined* format, the *common* format (no referrer and agent), and either one followed by extra
fields that nginx configurations append (the first one, when numeric, is ``$request_time``).
The parsing itself is SQL (``sql/lake/parse_lines.sql``); this module only names the pieces.
"""

from __future__ import annotations

# Keys of a JSON event, in the order the generator writes them.
JSON_EVENT_FIELDS: tuple[str, ...] = (
    "ts",
    "ip",
    "user_id",
    "session_id",
    "method",
    "path",
    "protocol",
    "status",
    "bytes",
    "latency_ms",
    "referrer",
    "user_agent",
    "device",
    "country",
)

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
# host ident user [time] "request" status bytes ["referrer" "agent"] [extra fields...]
# The group "combined" captures the space before "referrer" "agent": ' ' when the line is in the
# combined format, '' when it is in the common format (an empty "" referrer cannot tell them apart).
# A trailing field is a quoted string or a bare token that does not start with a quote, so a
# quote left open (a truncated line) fails the match instead of being swallowed.
CLF_PATTERN: str = (
    r"^(\S+) (\S+) (\S+) \[([^\]]+)\] "
    + _QUOTED
    + r" (\d{3}) (\d+|-)"
    + r"(?:( )"
    + _QUOTED
    + " "
    + _QUOTED
    + r")?"
    + r'((?: +(?:"(?:[^"\\]|\\.)*"|[^"\s]\S*))*) *$'
)
# The shape of almost every real access-log line, for a fast path that splits it on quotes and
# spaces instead of capturing groups: no quote or backslash inside a quoted field, none in the
# bare fields, at most one trailing field, no trailing spaces. Every line it matches also matches
# CLF_PATTERN, and its fields are where the splits put them; other lines take the full pattern.
# (\s is spelt out: the Spark reading of a runtime pattern does not translate it inside [...].)
_PLAIN_BARE = r'[^\t\n\f\r "]+'
_PLAIN_QUOTED = r'"[^"\\]*"'
CLF_PLAIN_PATTERN: str = (
    f"^{_PLAIN_BARE} {_PLAIN_BARE} {_PLAIN_BARE} "
    + r'\[[^\]"]+\] '
    + _PLAIN_QUOTED
    + r" \d{3} (?:\d+|-)"
    + f"(?: {_PLAIN_QUOTED} {_PLAIN_QUOTED})?(?: +(?:{_PLAIN_QUOTED}|{_PLAIN_BARE}))?"
    + r"\z"
)
CLF_FIELDS: tuple[str, ...] = (
    "host",
    "ident",
    "authuser",
    "time",
    "request",
    "status",
    "bytes",
    "combined",
    "referrer",
    "user_agent",
    "trailing",
)
# "GET /path?q=1 HTTP/1.1" -> method, target, protocol (protocol absent in HTTP/0.9 lines)
REQUEST_PATTERN: str = r"^([A-Za-z]+) (\S+)(?: (HTTP/[0-9.]+))?$"
REQUEST_FIELDS: tuple[str, ...] = ("method", "target", "protocol")
# First trailing field when it is a number: nginx's $request_time in seconds.
REQUEST_TIME_PATTERN: str = r'^ +"?([0-9]+(?:\.[0-9]+)?)"?(?: |$)'
CLF_TIME_FORMAT_STRPTIME: str = "%d/%b/%Y:%H:%M:%S %z"
CLF_TIME_FORMAT_JAVA: str = "dd/MMM/yyyy:HH:mm:ss Z"
