"""The cases: what each one measures, against which baseline of the same run, and its target.

A case is a list of :class:`~benchmarks.runner.Variant` rows and the comparisons between them;
every ratio is subject / baseline (time per event, or peak RSS), so below 1 the subject wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from benchmarks.data import Dataset
from benchmarks.engines import ENGINES, SPARK_MASTER, SPARK_SHUFFLE_PARTITIONS
from benchmarks.runner import FileOf, FilesOf, Prepared, Variant

FORMATS = {
    "jsonl": ("jsonl", False),
    "jsonl.gz": ("jsonl", True),
    "combined": ("combined", False),
    "combined.gz": ("combined", True),
}


# The ingest targets (time per event, platform / baseline): JSON lines near DuckDB's own reader; access
# logs near one read_csv + regexp_extract of the same file; well ahead of pandas with pyarrow.
BARE_DUCKDB_TARGETS = {"jsonl": (1.3, "≤ 1.30x"), "combined": (1.6, "≤ 1.60x")}
PYARROW_TARGETS = {"jsonl": (1 / 3, "≤ 0.33x (3x faster)")}
# Both cores busy during the ingest: CPU time over wall time of the engine alone.
CPU_PER_WALL_TARGET = 1.7

SPARK_NOTE = f"Spark {SPARK_MASTER}, {SPARK_SHUFFLE_PARTITIONS} shuffle partitions"


@dataclass(frozen=True)
class Comparison:
    subject: Variant
    baseline: Variant
    target: float | None = None  # the highest subject/baseline ratio that passes
    target_text: str = ""
    metric: str = "seconds"  # or "rss_mb": peak resident memory, or "cpu_per_wall": cores kept busy
    limit_mb: float | None = None  # absolute peak RSS target for the subject
    min_cpu_per_wall: float | None = None  # the subject's CPU/wall must reach this
    fixed_cost: bool = False  # report subject - baseline in seconds


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    about: str
    variants: tuple[Variant, ...]
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Options:
    events: int
    formats: tuple[str, ...] = tuple(FORMATS)
    small_events: int = 10_000
    pandas_max_events: int = 2_000_000  # pandas above this: measured on the subset file...
    pandas_full_formats: tuple[str, ...] = ("jsonl",)  # ...except engine=pyarrow for these formats
    subset_events: int = 1_000_000
    engine_rows_max_events: int = 2_000_000  # above this, the engine-alone ingest row is for jsonl only
    history_days: int = 30
    cli: bool = True
    engines: tuple[str, ...] = tuple(ENGINES)  # the engines case's engines (default: all registered)


def _ingest_variants(dataset: Dataset, opts: Options) -> dict[str, Variant]:
    """The platform, its engine alone and the three baselines, for one landed file."""
    file, fmt, label = FileOf(dataset), dataset.fmt, dataset.label
    subset = FileOf(replace(dataset, events_per_day=opts.subset_events))
    subset_note = f"measured on the {opts.subset_events:,}-event file (same generator, seed); ratio per event"
    reader = "read_json" if fmt == "jsonl" else "read_csv + str.extract"
    big = dataset.events_per_day > opts.pandas_max_events

    def pandas(engine: str, on_subset: bool) -> Variant:
        name = f"pandas {reader}, {'default engine' if engine == 'default' else 'engine=pyarrow'}"
        args = (("fmt", fmt), ("engine", engine))
        if on_subset:
            return Variant(name, "pandas_ingest", (("file", subset), *args), label, note=subset_note)
        fallback = None
        if dataset.events_per_day > opts.subset_events:
            fallback = Variant(name, "pandas_ingest", (("file", subset), *args), label, note=subset_note)
        return Variant(name, "pandas_ingest", (("file", file), *args), label, fallback=fallback)

    variants = {
        "platform": Variant(
            "platform: raw + lake assets", "platform_ingest", (("file", file), ("checks", False)), label
        ),
        "engine": Variant("engine.ingest_log_file alone", "engine_ingest", (("file", file),), label),
        "duckdb": Variant("bare DuckDB COPY", "duckdb_copy", (("file", file), ("fmt", fmt)), label),
        "pyarrow": pandas("pyarrow", on_subset=big and label not in opts.pandas_full_formats),
        "pandas": pandas("default", on_subset=big),
    }
    if label == "jsonl":  # what the lake's asset checks add (they do not depend on the format)
        name = "platform: ingest_log_file job (assets + their 8 checks)"
        variants["checked"] = Variant(name, "platform_ingest", (("file", file),), label)
    if dataset.events_per_day > opts.engine_rows_max_events and label != "jsonl":
        del variants["engine"]  # the platform row's note still gives the engine's time inside the job
    return variants


def _lake(opts: Options) -> tuple[Prepared, str]:
    """The lake of the run's JSONL file (ingested once by the engine) and its main day."""
    dataset = Dataset("jsonl", False, opts.events)
    return Prepared("prep_lake", (("file", FileOf(dataset)),)), dataset.start


def _marts_variants(opts: Options) -> dict[str, Variant]:
    lake, day = _lake(opts)
    args = (("lake", lake), ("day", day))
    return {
        "assets": Variant("platform: mart assets (build_day minus features)", "marts_assets", args, "jsonl"),
        "checked": Variant(
            "platform: mart assets and their asset checks", "marts_assets", (*args, ("checks", True)), "jsonl"
        ),
        "sql": Variant("bare DuckDB: the same SQL", "marts_sql", args, "jsonl"),
    }


def ingest(opts: Options) -> Case:
    variants, comparisons = [], []
    for label in opts.formats:
        fmt, gzip = FORMATS[label]
        v = _ingest_variants(Dataset(fmt, gzip, opts.events), opts)
        variants += v.values()
        comparisons += [
            Comparison(v["platform"], v["duckdb"], *BARE_DUCKDB_TARGETS[fmt]),
            Comparison(v["platform"], v["pyarrow"], *PYARROW_TARGETS.get(fmt, (None, ""))),
            Comparison(v["platform"], v["pandas"]),
            Comparison(  # the parse itself: the engine alone (the platform row adds Dagster's steps)
                v.get("engine", v["platform"]),
                v["duckdb"],
                metric="cpu_per_wall",
                min_cpu_per_wall=CPU_PER_WALL_TARGET,
                target_text=f"CPU/wall ≥ {CPU_PER_WALL_TARGET:.2f}",
            ),
        ]
        if "engine" in v:
            comparisons.append(Comparison(v["engine"], v["duckdb"]))
        if "checked" in v:
            comparisons.append(Comparison(v["checked"], v["duckdb"]))
    return Case(
        "ingest",
        "raw log file -> lake Parquet partitioned by date",
        "One landed file of N events. MB/s are of the landed file (compressed size for .gz). The "
        "platform row is the `ingest_log_file` job's assets (raw + lake) run in-process on "
        "`dg.instance_for_test()` without their asset checks, which do work the baselines do not "
        "(the jsonl row 'assets + their 8 checks' is the job as it runs, to show what they add); "
        "its note gives the time spent inside "
        "`engine.ingest_log_file` during that job, so Dagster's share shows; the engine-alone row is "
        f"the same call in a process without Dagster (above {opts.engine_rows_max_events:,} events "
        "only for jsonl, to keep the run short).",
        tuple(variants),
        tuple(comparisons),
    )


def marts(opts: Options) -> Case:
    v = _marts_variants(opts)
    return Case(
        "marts",
        "one day of every mart from the lake",
        "All marts for the main day of the JSONL file's lake (hard-linked into a fresh data dir, "
        "fresh warehouse file each run). Baseline: the marts' SQL in one DuckDB connection over the "
        "same Parquet files, `CREATE TABLE` each into a database file. The target row runs the marts "
        "without their asset checks (reconciliation with the lake, keys, rates: work the baseline "
        "does not do); the next row adds them.",
        (v["assets"], v["checked"], v["sql"]),
        (Comparison(v["assets"], v["sql"], 1.1, "≤ 1.10x"), Comparison(v["checked"], v["sql"])),
    )


def orchestration(opts: Options) -> Case:
    small = Dataset("jsonl", False, min(opts.events, opts.small_events))
    args = (("file", FileOf(small)), ("day", small.start))
    inproc = Variant("in-process: ingest_log_file + build_day jobs", "graph_inprocess", args, "jsonl")
    cli = Variant("CLI: 2 x dagster asset materialize", "graph_cli", args, "jsonl")
    parts = Variant("sum of parts: file facts + engine calls", "graph_parts", args, "jsonl")
    subjects = [inproc, *([cli] if opts.cli else [])]
    return Case(
        "orchestration",
        "fixed cost of running the per-day graph through Dagster",
        f"Raw, lake, 4 marts and features for one small day ({small.events_per_day:,} events). "
        "The CLI row starts two processes (`--select 'group:raw or group:lake' --partition FILE`, "
        "then `'group:warehouse or group:features' --partition DAY`) with PLATFORM_DATA_DIR and "
        "DAGSTER_HOME in temp dirs, the file's dynamic partition added beforehand; its dagster.yaml "
        "is `platform_assets/deploy/instance.yaml` (else telemetry off and `concurrency: pools: "
        "default_limit: 1`: without a pool limit, marts run as parallel steps fail on the warehouse "
        "file's lock). The note names the executor the definitions use. The model and drift assets "
        "need several days and a trained model, so they are not part of it."
        + ("" if opts.cli else " CLI rows skipped (--skip-cli)."),
        (*subjects, parts),
        tuple(Comparison(s, parts, fixed_cost=True) for s in subjects),
    )


def incremental(opts: Options) -> Case:
    days = opts.history_days
    per_day = max(opts.events // 30, 100)
    dataset = Dataset("jsonl", False, per_day, days=days + 1)
    history = Prepared(
        "prep_history",
        (
            ("files", FilesOf(dataset, 0, days)),
            ("days", tuple(dataset.day(i) for i in range(days))),
        ),
    )
    new = (("file", FileOf(dataset, days)), ("day", dataset.day(days)))
    onto = Variant(
        f"new day onto a {days}-day lake + warehouse",
        "incremental",
        (*new, ("history", history)),
        "jsonl",
    )
    alone = Variant("same day on an empty lake", "incremental", (*new, ("history", None)), "jsonl")
    return Case(
        "incremental",
        "one more day: ingest its file and build its day",
        f"{per_day:,} events per day (N/30). The history ({days} files ingested, "
        "their days' marts and features built by the engine) is prepared once; each run gets a copy. "
        "Timed: the `ingest_log_file` job for the new file, then `build_day` (marts + features, "
        "whose 28-day lookback reads the history) for its day.",
        (onto, alone),
        (Comparison(onto, alone, 1.15, "≤ 1.15x"),),
    )


def memory(opts: Options) -> Case:
    v = _ingest_variants(Dataset("jsonl", False, opts.events), opts)
    return Case(
        "memory",
        "peak RSS of ingesting N events (one JSONL file)",
        "Peak resident memory of each worker process (`ru_maxrss` from `os.wait4`), imports included "
        "(Python + Dagster + platform ~200-300 MB). Same runs as the ingest case; the target is on "
        "the job as it runs, asset checks included.",
        (v["checked"], v["platform"], v["engine"], v["duckdb"]),
        (
            Comparison(
                v["checked"], v["duckdb"], metric="rss_mb", limit_mb=1536, target_text="< 1536 MB (at 10M)"
            ),
            Comparison(v["platform"], v["duckdb"], metric="rss_mb"),
            Comparison(v["engine"], v["duckdb"], metric="rss_mb"),
        ),
    )


def engines(opts: Options) -> Case:
    lake, day = _lake(opts)
    sql = _marts_variants(opts)["sql"]
    args = (("lake", lake), ("day", day))

    def engine_row(name: str, what: str, only: tuple[str, ...] = ()) -> Variant:
        note = SPARK_NOTE if name == "spark" else ""
        extra = (("only", only),) if only else ()
        return Variant(
            f"engine {name}: write_partitions, {what}",
            "engine_marts",
            (*args, ("engine", name), *extra),
            "jsonl",
            note=note,
        )

    rows = tuple(engine_row(name, "every mart") for name in opts.engines)
    traffic = tuple(engine_row(name, "daily_traffic", ("daily_traffic",)) for name in opts.engines)
    pandas = Variant("pandas: daily_traffic (read_parquet + groupby)", "pandas_daily_traffic", args, "jsonl")
    return Case(
        "engines",
        "the marts through each registered engine (no Dagster)",
        f"Engines: {', '.join(opts.engines)} of those registered in `benchmarks/engines.py` "
        f"({', '.join(ENGINES)}; one entry per engine, "
        f"each the platform's `engine` resource of that kind; Spark on {SPARK_MASTER} with "
        f"{SPARK_SHUFFLE_PARTITIONS} shuffle partitions). Each builds every mart of the main day with "
        "`write_partitions` (one connection), as the assets do; Spark's results are loaded into "
        "warehouse.duckdb. Spark's session start-up is a fixed cost paid once per run, before the "
        "timed part (in the notes), and its JVM is a separate process whose peak RSS is in the notes, "
        "not in the peak RSS column. The daily_traffic rows compare the engines with a pandas baseline "
        "of that mart (same aggregation: distinct visitors, error counts, latency percentiles with "
        "linear interpolation, bytes).",
        (*rows, sql, *traffic, pandas),
        (*(Comparison(row, sql) for row in rows), *(Comparison(row, pandas) for row in traffic)),
    )


def limits(opts: Options) -> Case:
    dataset = Dataset("jsonl", False, opts.events)
    file = FileOf(dataset)
    lake, day = _lake(opts)
    first = Variant(
        "read the landed file, 8 MiB blocks: first read",
        "read_file",
        (("file", file), ("warm", False)),
        "jsonl",
        max_runs=1,
    )
    warm = Variant(
        "read the landed file, 8 MiB blocks: warm", "read_file", (("file", file), ("warm", True)), "jsonl"
    )
    scan = Variant(
        "DuckDB scan: count(*), sum(bytes) of the day", "parquet_scan", (("lake", lake), ("day", day)), "lake"
    )
    platform = _ingest_variants(dataset, opts)["platform"]
    assets = _marts_variants(opts)["assets"]
    return Case(
        "limits",
        "the machine's physical limits, to read the results against",
        "The page cache is not dropped: the 'first read' is the first in its process, and the file "
        "may well be cached from generation or an earlier case (cold-ish at best). The platform rows "
        "repeat the ingest and marts measurements, as a multiple of these limits.",
        (first, warm, scan, platform, assets),
        (Comparison(platform, warm), Comparison(assets, scan)),
    )


CASES = {
    "ingest": ingest,
    "marts": marts,
    "orchestration": orchestration,
    "incremental": incremental,
    "memory": memory,
    "engines": engines,
    "limits": limits,
}


def build_cases(names: list[str], opts: Options) -> list[Case]:
    unknown = set(names) - set(CASES)
    if unknown:
        raise ValueError(f"unknown cases {sorted(unknown)}; choose from {', '.join(CASES)}")
    return [CASES[name](opts) for name in names]
