"""The cursor of a sensor that consumes materializations in storage order.

``{"v": 1, "after_storage_id": N}``: the last materialization consumed. Event storage ids only
grow, so this is all the state such a sensor needs; no cursor (its first tick) = from the
beginning of the instance's history.
"""

import json

CURSOR_VERSION = 1


def read_cursor(raw: str | None) -> int:
    """The storage id after which materializations are new (0 = from the beginning)."""
    if not raw:
        return 0
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise ValueError(f"unknown cursor: {raw[:80]!r}")
    after = data.get("after_storage_id")
    if not isinstance(after, int) or after < 0:
        raise ValueError(f"malformed cursor: {raw[:80]!r}")
    return after


def write_cursor(after_storage_id: int) -> str:
    return json.dumps({"v": CURSOR_VERSION, "after_storage_id": after_storage_id})
