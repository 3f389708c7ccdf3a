"""The decision log's lake: every line a decision row or a quarantine row with its reason."""

import datetime as dt
import json

import duckdb
import pyarrow.parquet as pq
import pytest

from platform_assets.engines.duckdb import DuckDBEngine
from platform_assets.lib.decision_log import FOLDER, DecisionLog, decision_line
from platform_assets.lib.layout import DataLayout, file_id


def _decision(i: int, **changes) -> dict:
    record = {
        "decision_id": f"{i:032x}",
        "ts": f"2025-03-01T10:00:{i % 60:02d}.5Z",
        "request_time": f"2025-03-01T10:00:{i % 60:02d}+00:00",
        "experiment": "exp-1",
        "deployment_id": 3,
        "visitor_id": f"anon-{i:04d}",
        "session_id": f"s-{i}",
        "arm": "champion" if i % 10 else "challenger",
        "version": "v0001" if i % 10 else "v0002",
        "probability": i / 100,
        "label": int(i / 100 >= 0.3),
        "threshold": 0.3,
        "shadow_version": "v0003",
        "shadow_probability": 0.25,
        "features": {"device": "mobile", "prior_sessions_28d": i % 4},
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


# (line, reason) for each bad line; the good lines are the others
BAD = [
    (b"{not json", "invalid JSON (or not an object)"),
    (b"[1, 2]", "invalid JSON (or not an object)"),
    (b"", "empty line"),
    (b'{"decision_id": "\xff"}', "not valid UTF-8"),
    (decision_line(_decision(50, decision_id="X" * 32)), "invalid decision_id"),
    (decision_line(_decision(51, ts="yesterday")), "missing or unparseable timestamp"),
    (decision_line(_decision(52, request_time=...)), "missing or unparseable timestamp"),
    (decision_line(_decision(53, experiment="Exp 1")), "invalid experiment"),
    (decision_line(_decision(54, deployment_id="3; DROP")), "invalid deployment_id"),
    (decision_line(_decision(55, visitor_id="")), "invalid visitor_id"),
    (decision_line(_decision(56, arm="../x")), "invalid arm"),
    (decision_line(_decision(57, version="../../etc/passwd")), "invalid version"),
    (decision_line(_decision(58, probability=1.5)), "invalid probability"),
    (decision_line(_decision(59, probability="high")), "invalid probability"),
    (decision_line(_decision(60, label=2)), "invalid label"),
    (decision_line(_decision(61, shadow_probability=...)), "invalid shadow probability"),
    (decision_line(_decision(62, features=[1, 2])), "invalid features"),
]


@pytest.fixture
def landed(tmp_path):
    """A decision file as the server writes it (20 answers), then the bad lines appended by hand."""
    layout = DataLayout(tmp_path).ensure()
    log = DecisionLog(layout.landing, max_lines=10_000)
    for i in range(20):
        log.append(_decision(i))
    path = log.close()
    with open(path, "ab") as f:
        for text, _ in BAD:
            f.write(text.rstrip(b"\n") + b"\n")
    return layout, path


def test_good_lines_are_typed_rows_and_bad_lines_quarantined_with_their_line(landed):
    layout, path = landed
    key = f"{FOLDER}/{path.name}"
    result = DuckDBEngine(data_dir=str(layout.root)).ingest_decision_file(str(path), key, file_id(key))
    assert result.lines == 20 + len(BAD)
    assert result.events == 20 and result.quarantined == len(BAD)
    assert result.events_by_day == {"2025-03-01": 20}
    (fragment,) = layout.decisions_catalog.fragments()
    rows = pq.read_table(fragment.path).to_pylist()
    assert [r["source_line"] for r in rows] == list(range(1, 21))
    first = rows[1]  # answer 1, as written
    assert first["decision_id"] == f"{1:032x}" and first["event_date"] == dt.date(2025, 3, 1)
    assert first["ts"] == dt.datetime(2025, 3, 1, 10, 0, 1, 500000)
    assert first["request_time"] == dt.datetime(2025, 3, 1, 10, 0, 1)
    assert (first["arm"], first["version"], first["probability"], first["label"]) == (
        "champion",
        "v0001",
        0.01,
        0,
    )
    assert (first["shadow_version"], first["shadow_probability"], first["deployment_id"]) == (
        "v0003",
        0.25,
        3,
    )
    assert json.loads(first["features"]) == {"device": "mobile", "prior_sessions_28d": 1}
    assert [r["arm"] for r in rows].count("challenger") == 2  # answers 0 and 10
    quarantine = pq.read_table(layout.decisions / "quarantine").to_pylist()
    assert [(q["source_line"], q["reason"]) for q in quarantine] == [
        (21 + n, reason) for n, (_, reason) in enumerate(BAD)
    ]
    assert quarantine[0]["raw_line"] == "{not json" and quarantine[0]["source_file"] == key
    assert quarantine[3]["raw_line"] == '{"decision_id": "\\xff"}'


def test_reingesting_a_decision_file_replaces_it(landed):
    layout, path = landed
    key = f"{FOLDER}/{path.name}"
    engine = DuckDBEngine(data_dir=str(layout.root))
    for _ in range(2):
        engine.ingest_decision_file(str(path), key, file_id(key))
    files = [str(f.path) for f in layout.decisions_catalog.fragments()]
    counted = duckdb.sql(
        f"SELECT count(*), count(DISTINCT decision_id) FROM read_parquet({files})"
    ).fetchall()
    assert counted == [(20, 20)]
    assert layout.catalog.fragments() == []  # nothing in the events lake
