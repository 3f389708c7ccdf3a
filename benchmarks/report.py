"""Tables and ``RESULTS.md``: one section per input size; a new run replaces its size's section
(the cases it did not measure are kept, marked with the run they come from)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.cases import Case, Comparison
from benchmarks.runner import Measurement, Variant

COLUMNS = (
    "case", "variant", "input", "events", "runs", "median s", "min-max s", "MB/s", "events/s",
    "peak RSS MB", "CPU/wall", "vs baseline", "ratio", "target", "result", "notes",
)  # fmt: skip
HEADER = """# Benchmark results

Written by `python -m benchmarks --events N` (see `benchmarks/__main__.py`); one section per input
size N, replaced when that size is run again (a run of some cases keeps the others, marked with
the run they come from). Every case is measured against its baseline **in
the same run**, each run in a fresh worker process.

How to read the tables: *median s* and *min-max s* are wall seconds of the timed operation (setup
such as imports, building the Dagster definitions, linking inputs is excluded); *MB/s* are of the
input (the landed file, or the day's Parquet files); *peak RSS* is the worker process's
`ru_maxrss`; *CPU/wall* is the CPU time of every thread of the worker over the wall time of the
timed operation (2.00 = both cores busy all along; a Spark JVM is another process, not counted).
*ratio* = subject / baseline, in time per event (or peak RSS for memory): below 1 the subject is
faster. *runs* below the requested repeats means the row hit its time budget.
Input data: the project's generator (`generate_logs`, seed 1, no malformed lines so that the
pandas baselines can read it), cached under `benchmarks/.cache/`.
"""
_SECTION = re.compile(
    r"<!-- benchmarks:section events=(\d+) -->\n.*?<!-- benchmarks:end events=\1 -->\n?", re.S
)
# One case of a section (its ``### name: title`` block), and the mark of a case kept from an earlier run.
_CASE = re.compile(r"^### ([\w-]+): .*?(?=^### |^<!-- benchmarks:end |\Z)", re.M | re.S)
_KEPT = "*Kept from the run of "
# Sections written by other commands (``python -m benchmarks.alarm``): kept by ``merge``.
_EXTRA = re.compile(r"<!-- benchmarks:extra ([\w-]+) -->\n.*?<!-- benchmarks:extra-end \1 -->\n?", re.S)


@dataclass(frozen=True)
class Verdict:
    comparison: Comparison
    ratio: float | None
    result: str  # PASS, MISS, info, n/a
    note: str = ""


def _per_event(m: Measurement) -> float | None:
    seconds, events = m.median(), m.first("events")
    return seconds / events if seconds and events else None


def judge(c: Comparison, subject: Measurement, baseline: Measurement) -> Verdict:
    """The ratio subject / baseline and whether it meets the target."""
    if not (subject.ok and baseline.ok):
        return Verdict(c, None, "n/a")
    if c.metric == "rss_mb":
        ratio = subject.peak_rss_mb / baseline.peak_rss_mb
        passed = subject.peak_rss_mb < c.limit_mb if c.limit_mb else None
    elif c.metric == "cpu_per_wall":
        busy, baseline_busy = _cpu_per_wall(subject), _cpu_per_wall(baseline)
        if busy is None or not baseline_busy:
            return Verdict(c, None, "n/a")
        ratio = busy / baseline_busy
        passed = busy >= c.min_cpu_per_wall if c.min_cpu_per_wall else None
    else:
        ratio = _per_event(subject) / _per_event(baseline)
        passed = ratio <= c.target if c.target else None
    note = ""
    if c.fixed_cost:
        note = f"fixed cost {subject.median() - baseline.median():+.2f} s"
    return Verdict(c, ratio, "info" if passed is None else ("PASS" if passed else "MISS"), note)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if value >= 1 else f"{value:.{digits + 1}f}"


def _notes(m: Measurement) -> list[str]:
    notes = list(m.notes)
    engine, seconds = m.median("engine_s"), m.median()
    if engine and seconds:
        rest = seconds - engine
        notes.append(
            f"in engine.ingest_log_file {engine:.2f} s; raw asset + Dagster {rest:.2f} s "
            f"({rest / seconds:.0%})"
        )
    startup = m.median("startup_s")
    if startup is not None:
        notes.append(f"session start-up {startup:.1f} s before the timed part (not in median s)")
    jvm = m.values("jvm_rss_mb")
    if jvm:
        notes.append(f"JVM peak RSS {max(jvm):,.0f} MB (another process)")
    if m.first("executor"):
        notes.append(f"executor: {m.first('executor')}")
    rows, events = m.first("rows"), m.first("events")
    if rows is not None and events and rows != events:
        notes.append(f"{rows:,} rows out of {events:,} lines")
    if m.error:
        notes.append(m.error.splitlines()[0][:200])
    return notes


def _measurement_cells(m: Measurement) -> list[str]:
    if not m.ok:
        return ["", "0", "failed", "", "", "", "", ""]
    seconds, events, size = m.median(), m.first("events"), m.first("bytes")
    values = m.values("seconds")
    runs = f"{len(m.runs)}" if len(m.runs) == m.planned else f"{len(m.runs)} of {m.planned}"
    return [
        f"{events:,}" if events else "",
        runs,
        _fmt(seconds),
        f"{_fmt(min(values))}-{_fmt(max(values))}",
        _fmt(size / seconds / 1e6, 1) if size else "",
        f"{events / seconds:,.0f}" if events else "",
        _fmt(m.peak_rss_mb, 0),
        _fmt(_cpu_per_wall(m), 2),
    ]


def _missed(v: Verdict, measured: Callable[[Variant], Measurement]) -> str:
    """One missed target, in words, with the figure that missed it."""
    c, subject = v.comparison, measured(v.comparison.subject)
    if c.metric == "seconds":
        figure = f"vs {c.baseline.name} ({_fmt(v.ratio)}x"
    elif c.metric == "cpu_per_wall":
        figure = f"CPU/wall ({_fmt(_cpu_per_wall(subject))}"
    else:
        figure = f"peak RSS ({_fmt(subject.peak_rss_mb, 0)} MB"
    return f"{_label(c.subject)} {figure}, target {c.target_text})"


def _cpu_per_wall(m: Measurement) -> float | None:
    """CPU seconds over wall seconds of the timed operation (median run): 2 is both cores busy."""
    cpu, wall = m.median("cpu_seconds"), m.median()
    return cpu / wall if cpu is not None and wall else None


def _label(v: Variant) -> str:
    return f"{v.name} [{v.input}]" if v.input else v.name


def case_rows(
    case: Case, measured: Callable[[Variant], Measurement]
) -> tuple[list[list[str]], list[Verdict]]:
    """One row per variant (continuation rows for its extra comparisons) and the verdicts."""
    rows, verdicts = [], []
    for variant in case.variants:
        m = measured(variant)
        cells = [case.name, variant.name, variant.input, *_measurement_cells(m)]
        own = [c for c in case.comparisons if c.subject == variant]
        notes = _notes(m)
        if not own:
            rows.append(
                [
                    *cells,
                    "baseline" if any(c.baseline == variant for c in case.comparisons) else "",
                    "",
                    "",
                    "",
                    "; ".join(notes),
                ]
            )
        for index, c in enumerate(own):
            verdict = judge(c, m, measured(c.baseline))
            verdicts.append(verdict)
            prefix = (
                cells if index == 0 else [case.name, variant.name, variant.input] + [""] * (len(cells) - 3)
            )
            note = "; ".join([*([verdict.note] if verdict.note else []), *(notes if index == 0 else [])])
            ratio = f"{_fmt(verdict.ratio)}x" if verdict.ratio is not None else ""
            rows.append([*prefix, _label(c.baseline), ratio, c.target_text, verdict.result, note])
    return rows, verdicts


def markdown_table(rows: list[list[str]], columns: tuple[str, ...] = COLUMNS) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def section(
    events: int,
    command: str,
    machine: dict[str, str],
    run: dict[str, str],
    cases: list[Case],
    measured: Callable[[Variant], Measurement],
) -> str:
    """The Markdown section of one input size."""
    blocks, verdicts = [], []
    for case in cases:
        rows, case_verdicts = case_rows(case, measured)
        verdicts += case_verdicts
        blocks.append(f"### {case.name}: {case.title}\n\n{case.about}\n\n{markdown_table(rows)}\n")
    judged = [v for v in verdicts if v.result in ("PASS", "MISS")]
    missed = [v for v in judged if v.result == "MISS"]
    summary = f"**Targets: {len(judged) - len(missed)} of {len(judged)} met.**"
    if missed:
        summary += " Missed: " + "; ".join(_missed(v, measured) for v in missed) + "."
    facts = {**machine, **run}
    table = markdown_table([[k, v] for k, v in facts.items()], ("run", ""))
    return (
        f"<!-- benchmarks:section events={events} -->\n## {events:,} events\n\n`{command}`\n\n"
        f"{table}\n\n{summary}\n\n" + "\n".join(blocks) + f"<!-- benchmarks:end events={events} -->\n"
    )


def merge(existing: str, events: int, new_section: str) -> str:
    """RESULTS.md with ``new_section`` in place of the old section of the same size (others kept).
    A case of the old section that the new one did not measure (a run with ``--cases``) is kept
    under it, marked with the run it comes from."""
    sections = {int(m.group(1)): m.group(0) for m in _SECTION.finditer(existing)}
    if events in sections:
        new_section = _with_kept_cases(sections[events], new_section)
    sections[events] = new_section
    extras = [m.group(0) for m in _EXTRA.finditer(existing)]
    body = "\n".join(part.rstrip("\n") + "\n" for part in [*(sections[n] for n in sorted(sections)), *extras])
    return HEADER + "\n" + body


def _run_fact(section_text: str, name: str) -> str:
    match = re.search(rf"^\| {name} \| (.*?) \|$", section_text, re.M)
    return match.group(1) if match else "?"


def _with_kept_cases(old: str, new: str) -> str:
    """``new`` followed by the cases of ``old`` it does not have, each marked with its run."""
    measured = {m.group(1) for m in _CASE.finditer(new)}
    kept = []
    for match in _CASE.finditer(old):
        if match.group(1) in measured:
            continue
        block = match.group(0).rstrip("\n") + "\n"
        if _KEPT not in block:  # first kept: say which run it comes from
            head, _, rest = block.partition("\n")
            origin = f"{_KEPT}{_run_fact(old, 'date')} (code {_run_fact(old, 'code')}): not measured above.*"
            block = f"{head}\n\n{origin}\n{rest}"
        kept.append(block)
    if not kept:
        return new
    end = new.rindex("<!-- benchmarks:end ")
    return new[:end] + "\n".join(kept) + new[end:]


def replace_extra(existing: str, name: str, new_section: str) -> str:
    """RESULTS.md with the extra section ``name`` replaced by ``new_section`` (appended when new);
    everything else is kept as it is."""
    for match in _EXTRA.finditer(existing):
        if match.group(1) == name:
            return existing[: match.start()] + new_section.rstrip("\n") + "\n" + existing[match.end() :]
    return existing.rstrip("\n") + "\n\n" + new_section.rstrip("\n") + "\n"


def extra_section(name: str, title: str, paragraphs: list[str], info: dict[str, str]) -> str:
    """An extra section of RESULTS.md (see :func:`replace_extra`): its title, its paragraphs (a
    table is one) and the machine it ran on."""
    body = [part for paragraph in paragraphs for part in (paragraph, "")]
    machine_rows = markdown_table([[k, v] for k, v in info.items()], ("run", ""))
    head = [f"<!-- benchmarks:extra {name} -->", f"## {title}", ""]
    tail = ["### machine", "", machine_rows, f"<!-- benchmarks:extra-end {name} -->", ""]
    return "\n".join([*head, *body, *tail])
