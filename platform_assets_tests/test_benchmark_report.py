"""RESULTS.md merging: a run of some cases (``--cases``) replaces those and keeps the others of its
size, marked with the run they come from."""

from benchmarks import report


def _section(date: str, code: str, cases: dict[str, str]) -> str:
    blocks = "\n".join(
        f"### {name}: title of {name}\n\nabout\n\n| x |\n|---|\n| {row} |\n" for name, row in cases.items()
    )
    return (
        f"<!-- benchmarks:section events=9 -->\n## 9 events\n\n`cmd`\n\n| run |  |\n|---|---|\n"
        f"| date | {date} |\n| code | {code} |\n\n**Targets: 0 of 0 met.**\n\n{blocks}"
        "<!-- benchmarks:end events=9 -->\n"
    )


def test_a_partial_run_keeps_the_cases_it_did_not_measure_marked_with_their_run() -> None:
    full = report.merge(
        report.HEADER, 9, _section("day 1", "aaa", {"ingest": "i1", "marts": "m1", "limits": "l1"})
    )
    partial = report.merge(full, 9, _section("day 2", "bbb", {"ingest": "i2"}))
    assert "| i2 |" in partial and "| i1 |" not in partial  # the measured case is replaced
    assert partial.count("### marts:") == 1 and "| m1 |" in partial and "| l1 |" in partial
    kept = "*Kept from the run of day 1 (code aaa): not measured above.*"
    assert partial.count(kept) == 2
    assert (
        partial.index("| i2 |") < partial.index("### marts:") < partial.index("<!-- benchmarks:end events=9")
    )
    # a second partial run keeps what was kept with its own origin, and takes back what it measures
    again = report.merge(partial, 9, _section("day 3", "ccc", {"marts": "m3"}))
    assert "| m3 |" in again and "| m1 |" not in again
    assert "*Kept from the run of day 2 (code bbb): not measured above.*" in again  # ingest, from day 2
    assert "*Kept from the run of day 1 (code aaa): not measured above.*" in again  # limits, still day 1
    assert report.merge(again, 9, _section("day 3", "ccc", {"marts": "m3"})) == again  # idempotent
    # a full run leaves nothing kept
    whole = report.merge(again, 9, _section("day 4", "ddd", {"ingest": "a", "marts": "b", "limits": "c"}))
    assert "Kept from the run of" not in whole
