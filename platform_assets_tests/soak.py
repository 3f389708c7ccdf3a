"""The soak harness: a backlog of landed files through ``dagster dev`` on the production
(PostgreSQL) instance, then two day builds racing for the warehouse through the run queue.

Used by ``test_soak_e2e.py`` (a scaled soak, CI) and ``benchmarks/soak.py`` (the full one, with
its table in ``benchmarks/RESULTS.md``). :func:`run_soak` starts a real ``dagster dev`` (webserver +
daemon, run queue) whose instance is ``platform_assets/deploy/instance.postgres.yaml``, in a database of its
own on the server of ``PLATFORM_TEST_POSTGRES_URL``, then:

1. **Ingest drain.** The lake-days sensor is stopped; many small JSON-lines files and a few large
   ones (one gzipped) are landed at once, with a few malformed lines planted. The landing sensor
   requests one ``ingest_log_file`` run per file. Measured: the time from the last file landed to
   the end of the last ingest run (the *backlog drain*), runs per minute, every sensor tick's
   duration (GraphQL ``ticks``: ``endTimestamp - timestamp``), the peak RSS and the CPU time of
   dagster dev's processes (webserver, daemon, code servers and runs: all in its session, sampled).
   Counted independently of the platform: what was written, while writing; the lake with DuckDB
   over its Parquet files (events per file and day, ``(source_file, source_line)`` pairs, quarantine).
2. **Two writers.** The lake-days sensor is started: it reads the backlog's materializations and
   requests one ``build_day`` run per day, together, into the run queue. Recorded: each run's steps
   (to check that the ``warehouse`` pool let one write at a time) and ``daily_traffic``'s requests
   per day, to compare with the lake.
3. **Instance storage.** Runs and rows of Dagster's tables (``runs``, ``event_logs``, ``job_ticks``,
   ...) are read from PostgreSQL itself, and SQLite files in DAGSTER_HOME listed (expected: none).

Each run is a process of its own (Dagster's default run launcher), several seconds of CPU here:
size the soak to the time you have (``SoakSize``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb

from platform_assets.lib.layout import sql_string
from platform_assets_tests.dagster_dev import (
    REPO,
    DagsterDev,
    dagster_dev,
    graphql,
    warehouse_requests_by_day,
)

POSTGRES_INSTANCE = REPO / "platform_assets" / "deploy" / "instance.postgres.yaml"
URL_VARIABLE = "PLATFORM_TEST_POSTGRES_URL"
DAYS = (dt.date(2026, 10, 30), dt.date(2026, 10, 31))
LANDING_SENSOR = "landing_files_sensor"
DAYS_SENSOR = "lake_days_sensor"
INGEST_JOB = "ingest_log_file"
BUILD_JOB = "build_day"
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")
# Dagster gives up on a sensor evaluation after 60 s (DEFAULT_SENSOR_GRPC_TIMEOUT).
DAGSTER_TICK_LIMIT_SECONDS = 60
MALFORMED_LINE = "this is not a log line {\n"  # matches no format: quarantined as unparseable
REPOSITORY = '{repositoryName: "__repository__", repositoryLocationName: "platform_assets"}'


@dataclass(frozen=True)
class SoakSize:
    """How much is landed. One malformed line in every ``malformed_every``-th small file and
    ``large_malformed`` in each large file; the first large file is gzipped."""

    small_files: int = 2000
    small_events: int = 50
    large_files: int = 3
    large_events: int = 200_000
    malformed_every: int = 25
    large_malformed: int = 10

    def describe(self) -> str:
        return (
            f"{self.small_files:,} small files x {self.small_events} lines + {self.large_files} large x "
            f"{self.large_events:,} lines (one gzipped)"
        )


@dataclass
class Landed:
    """What was written, counted while writing (not by reading the lake)."""

    lines_by_file: dict[str, int] = field(default_factory=dict)  # every line, malformed included
    malformed_by_file: dict[str, int] = field(default_factory=dict)
    events_by_day: Counter[str] = field(default_factory=Counter)
    bytes: int = 0

    @property
    def lines(self) -> int:
        return sum(self.lines_by_file.values())

    @property
    def malformed(self) -> int:
        return sum(self.malformed_by_file.values())

    @property
    def events(self) -> int:
        return self.lines - self.malformed


def _event_line(file_no: int, line_no: int, at: dt.datetime, offset_minutes: int) -> str:
    """One request, unique by its path (``/soak/<file>/<line>``), so no two files share an event."""
    local = at.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    event = {
        "ts": local.isoformat(timespec="milliseconds"),
        "ip": f"10.{file_no % 250}.{line_no % 250}.{(file_no + line_no) % 250}",
        "user_id": f"u{file_no}" if line_no % 3 else None,
        "session_id": f"s{file_no}-{line_no // 20}",
        "method": "GET",
        "path": f"/soak/{file_no}/{line_no}",
        "protocol": "HTTP/1.1",
        "status": (200, 200, 200, 304, 404, 500)[line_no % 6],
        "bytes": 100 + (file_no * 7 + line_no * 13) % 50_000,
        "latency_ms": round(1 + (line_no * 37 % 9000) / 10, 1),
        "referrer": None,
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
        "device": "desktop",
        "country": ("DE", "FR", "US", "IN")[file_no % 4],
    }
    return json.dumps(event) + "\n"


def _write_file(
    landing: Path, key: str, file_no: int, lines: int, malformed: int, landed: Landed, *, gzipped: bool
) -> None:
    """Write one file under a ``.part`` name and rename it: the sensor never sees it half-written.

    Events spread evenly over :data:`DAYS` in UTC; their local offsets vary (-05:00..+05:30), the
    UTC day is counted from the UTC time generated here. Malformed lines are spread through the file.
    """
    start = dt.datetime.combine(DAYS[0], dt.time(), tzinfo=dt.UTC)
    span_ms = len(DAYS) * 86_400_000
    bad_at = {(i + 1) * lines // (malformed + 1) for i in range(malformed)}
    chunks: list[str] = []
    for line_no in range(1, lines + 1):
        if line_no in bad_at:
            chunks.append(MALFORMED_LINE)
            continue
        # a multiplicative hash of (file, line) spreads every file's events over both days
        at = start + dt.timedelta(milliseconds=((file_no << 32) + line_no) * 2_654_435_761 % span_ms)
        chunks.append(_event_line(file_no, line_no, at, (-300, 0, 120, 330)[line_no % 4]))
        landed.events_by_day[at.date().isoformat()] += 1
    data = "".join(chunks).encode()
    path = landing / key
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(gzip.compress(data, compresslevel=1) if gzipped else data)
    os.rename(partial, path)
    landed.lines_by_file[key] = lines
    landed.malformed_by_file[key] = len(bad_at)
    landed.bytes += path.stat().st_size


def land_files(landing: Path, size: SoakSize) -> Landed:
    """The soak's backlog: large files first (the sensor hashes them in its first ticks), then small."""
    landed = Landed()
    for n in range(size.large_files):
        gzipped = n == 0
        key = f"large/large-{n:02d}.jsonl" + (".gz" if gzipped else "")
        _write_file(
            landing, key, 100_000 + n, size.large_events, size.large_malformed, landed, gzipped=gzipped
        )
    for n in range(size.small_files):
        malformed = 1 if size.malformed_every and n % size.malformed_every == 0 else 0
        key = f"small/{n // 500:02d}/small-{n:05d}.jsonl"
        _write_file(landing, key, n, size.small_events, malformed, landed, gzipped=False)
    return landed


# --- PostgreSQL ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    """A server reached through a ``postgresql://user:password@host:port/db`` URL."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.username:
            raise ValueError(f"{URL_VARIABLE}: expected postgresql://user:password@host:port/database")
        return cls(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or "postgres",
        )

    def connect(self, database: str | None = None):
        import psycopg2  # comes with dagster-postgres (the `postgres` extra)

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            connect_timeout=10,
        )

    def instance_env(self, database: str) -> dict[str, str]:
        """The variables ``instance.postgres.yaml`` reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    @contextmanager
    def scratch_database(self, prefix: str = "soak") -> Iterator[str]:
        """A new, empty database for one Dagster instance, dropped afterwards."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        admin = self.connect()
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
            yield name
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()

    def query(self, database: str, sql: str) -> list[tuple]:
        with self.connect(database) as con, con.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        con.close()
        return rows


# --- dagster dev ----------------------------------------------------------------------------------


def _sensors(port: int) -> dict[str, dict]:
    query = (
        f"{{ sensorsOrError(repositorySelector: {REPOSITORY}) {{ __typename "
        "... on Sensors { results { id name sensorState { id status } } } ... on PythonError { message } } }"
    )
    result = graphql(port, query)["data"]["sensorsOrError"]
    if result["__typename"] != "Sensors":
        raise RuntimeError(f"sensors: {result}")
    return {s["name"]: s for s in result["results"]}


def stop_sensor(port: int, name: str) -> None:
    state_id = _sensors(port)[name]["sensorState"]["id"]
    query = (
        f'mutation {{ stopSensor(id: "{state_id}") {{ __typename '
        "... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"
    )
    result = graphql(port, query)["data"]["stopSensor"]
    if result.get("instigationState", {}).get("status") != "STOPPED":
        raise RuntimeError(f"could not stop {name}: {result}")


def start_sensor(port: int, name: str) -> None:
    selector = REPOSITORY[:-1] + f', sensorName: "{name}"}}'
    query = (
        f"mutation {{ startSensor(sensorSelector: {selector}) {{ __typename "
        "... on Sensor { sensorState { status } } ... on PythonError { message } } }"
    )
    result = graphql(port, query)["data"]["startSensor"]
    if result.get("sensorState", {}).get("status") != "RUNNING":
        raise RuntimeError(f"could not start {name}: {result}")


@dataclass(frozen=True)
class Tick:
    """One sensor tick. Dagster's 60 s limit is on the evaluation (the sensor's code, a gRPC call
    to the code server: ``DEFAULT_SENSOR_GRPC_TIMEOUT``); the tick then goes on while the daemon
    submits the runs it requested, one after the other, and ends when they are all submitted."""

    sensor: str
    status: str
    started: float
    ended: float | None
    runs: int
    last_log: float | None  # the sensor's last log line: our sensors log their summary last

    @property
    def seconds(self) -> float | None:
        """Evaluation and run submission."""
        return None if self.ended is None else self.ended - self.started

    @property
    def evaluation_seconds(self) -> float | None:
        """Up to the sensor's last log line (None when it logged nothing)."""
        return None if self.last_log is None else self.last_log - self.started


def sensor_ticks(port: int, names: Iterator[str] | list[str], limit: int = 100_000) -> list[Tick]:
    """Every recorded tick of the sensors (GraphQL, newest first per sensor)."""
    ticks = []
    for name in names:
        selector = REPOSITORY[:-1] + f', sensorName: "{name}"}}'
        query = (
            f"{{ sensorOrError(sensorSelector: {selector}) {{ __typename ... on Sensor {{ sensorState {{ "
            f"ticks(limit: {limit}) {{ status timestamp endTimestamp runIds "
            "logEvents { events { timestamp } } } } } "
            "... on PythonError { message } } }"
        )
        result = graphql(port, query)["data"]["sensorOrError"]
        if result["__typename"] != "Sensor":
            raise RuntimeError(f"ticks of {name}: {result}")
        for t in result["sensorState"]["ticks"]:
            logged = [float(e["timestamp"]) / 1000 for e in t["logEvents"]["events"]]
            last_log = max(logged, default=None)
            ticks.append(
                Tick(name, t["status"], t["timestamp"], t["endTimestamp"], len(t["runIds"]), last_log)
            )
    return ticks


def pooled_steps(port: int, job: str = BUILD_JOB, pool: str = "warehouse") -> set[str]:
    """The steps of ``job`` that hold a slot of ``pool`` (what the UI shows as the op's pools)."""
    query = (
        f'{{ pipelineOrError(params: {{pipelineName: "{job}", repositoryName: "__repository__", '
        'repositoryLocationName: "platform_assets"}) { __typename '
        "... on Pipeline { solids { name definition { pools } } } ... on PythonError { message } } }"
    )
    result = graphql(port, query)["data"]["pipelineOrError"]
    if result["__typename"] != "Pipeline":
        raise RuntimeError(f"{job}: {result}")
    return {op["name"] for op in result["solids"] if pool in op["definition"]["pools"]}


def step_windows(port: int, job: str = BUILD_JOB) -> list[dict]:
    """Per run of ``job``: its partition, status, start/end and its steps' start/end."""
    query = (
        f'{{ runsOrError(filter: {{pipelineName: "{job}"}}, limit: 1000) {{ __typename ... on Runs {{ '
        "results { runId status startTime endTime tags { key value } "
        "stepStats { stepKey startTime endTime } } } ... on PythonError { message } } }"
    )
    result = graphql(port, query)["data"]["runsOrError"]
    if result["__typename"] != "Runs":
        raise RuntimeError(f"runs of {job}: {result}")
    runs = result["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return runs


class ProcessSampler:
    """Samples, each ``interval`` s, every process in dagster dev's session (found by its port on the
    command line): the peak of their summed RSS, the largest single process, and the CPU time (user +
    system) each process had used when last seen, summed: a lower bound of the soak's CPU (a process
    loses at most its last interval), which depends little on what else loads the machine."""

    def __init__(self, port: int, interval: float = 0.5) -> None:
        self.port, self.interval = port, interval
        self.peak_total_mb = 0.0
        self.peak_process_mb = 0.0
        self.peak_process = ""
        self.processes_seen = 0
        self._cpu: dict[tuple[int, str], float] = {}  # (pid, start time) -> CPU seconds last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _session(self) -> int | None:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"dev" in argv and str(self.port).encode() in argv:
                return os.getsid(int(proc.name))
        return None

    def _run(self) -> None:
        session = self._session()
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        ticks = os.sysconf("SC_CLK_TCK")
        while session is not None and not self._stop.wait(self.interval):
            total = 0.0
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if os.getsid(int(proc.name)) != session:
                        continue
                    rss = int((proc / "statm").read_text().split()[1]) * page_mb
                    stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                    argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
                except (OSError, ValueError):
                    continue
                # fields after the command: utime, stime are the 12th and 13th; starttime the 20th
                self._cpu[(int(proc.name), stat[19])] = (int(stat[11]) + int(stat[12])) / ticks
                total += rss
                if rss > self.peak_process_mb:
                    self.peak_process_mb, self.peak_process = rss, " ".join(argv)[:90]
            self.peak_total_mb = max(self.peak_total_mb, total)
            self.processes_seen = len(self._cpu)


# --- the lake and the warehouse, read with DuckDB -------------------------------------------------


@dataclass(frozen=True)
class LakeCount:
    events: int
    quarantined: int
    distinct_lines: int  # distinct (source_file, source_line) among events
    duplicated_lines: int  # events whose (source_file, source_line) appears more than once
    events_by_file: dict[str, int]
    quarantined_by_file: dict[str, int]
    events_by_day: dict[str, int]


def count_lake(data_dir: Path) -> LakeCount:
    events = data_dir / "lake" / "events"
    quarantine = data_dir / "lake" / "quarantine"
    con = duckdb.connect()
    if any(events.glob("date=*/*.parquet")):
        fragments = sql_string(f"{events}/date=*/*.parquet")
        con.execute(f"CREATE VIEW ev AS SELECT * FROM read_parquet({fragments}, hive_partitioning = false)")
    else:
        con.execute("CREATE VIEW ev AS SELECT NULL::VARCHAR AS source_file, NULL::BIGINT AS source_line, "
                    "NULL::DATE AS event_date WHERE false")  # fmt: skip
    if any(quarantine.glob("*.parquet")):
        con.execute(f"CREATE VIEW qu AS SELECT * FROM read_parquet({sql_string(f'{quarantine}/*.parquet')})")
    else:
        con.execute("CREATE VIEW qu AS SELECT NULL::VARCHAR AS source_file WHERE false")
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (source_file, source_line)) FROM ev"
    ).fetchone()
    duplicated = con.execute(
        "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM ev "
        "GROUP BY source_file, source_line HAVING count(*) > 1)"
    ).fetchone()[0]
    by_file = dict(con.execute("SELECT source_file, count(*) FROM ev GROUP BY 1").fetchall())
    by_day = dict(con.execute("SELECT CAST(event_date AS VARCHAR), count(*) FROM ev GROUP BY 1").fetchall())
    quarantined_by_file = dict(con.execute("SELECT source_file, count(*) FROM qu GROUP BY 1").fetchall())
    con.close()
    return LakeCount(
        events=total,
        quarantined=sum(quarantined_by_file.values()),
        distinct_lines=distinct,
        duplicated_lines=int(duplicated),
        events_by_file=by_file,
        quarantined_by_file=quarantined_by_file,
        events_by_day=by_day,
    )


# --- the soak -------------------------------------------------------------------------------------


@dataclass
class SoakResult:
    size: SoakSize
    landed: Landed
    lake: LakeCount
    landing_seconds: float  # writing the backlog
    drain_seconds: float  # last file landed -> last ingest run ended
    ingest_runs: dict[str, int]  # status -> count (from the runs table)
    ingest_run_seconds: list[float]  # each ingest run's start -> end
    ticks: list[Tick]
    build_runs: list[dict]  # GraphQL runs of build_day, with step stats
    pooled: set[str]
    warehouse_by_day: dict[str, int]
    lake_by_day_at_build: dict[str, int]
    build_seconds: float  # lake_days_sensor started -> last build ended
    postgres_tables: dict[str, int]  # rows in runs, event_logs, job_ticks, ...
    runs_by_job: dict[str, dict[str, int]]  # from PostgreSQL's runs table
    sqlite_files: list[str]  # *.db files in DAGSTER_HOME (expected: none)
    peak_rss_total_mb: float
    peak_rss_process_mb: float
    peak_rss_process: str
    wall_seconds: float
    cpu_seconds: float  # of dagster dev's processes, runs included (sampled: a lower bound)
    processes: int  # processes seen in dagster dev's session

    @property
    def files(self) -> int:
        return len(self.landed.lines_by_file)

    @property
    def lost(self) -> int:
        """Written events missing from the lake (per file, so an extra event elsewhere cannot hide one)."""
        return sum(
            max(
                0,
                self.landed.lines_by_file[k]
                - self.landed.malformed_by_file[k]
                - self.lake.events_by_file.get(k, 0),
            )
            for k in self.landed.lines_by_file
        )

    @property
    def duplicated(self) -> int:
        extra = sum(
            max(0, n - (self.landed.lines_by_file.get(k, 0) - self.landed.malformed_by_file.get(k, 0)))
            for k, n in self.lake.events_by_file.items()
        )
        return max(extra, self.lake.duplicated_lines)

    def max_evaluation_seconds(self, sensor: str | None = None) -> float:
        seconds = [
            t.evaluation_seconds
            for t in self.ticks
            if t.evaluation_seconds is not None and sensor in (None, t.sensor)
        ]
        return max(seconds, default=0.0)

    def max_tick_seconds(self, sensor: str | None = None) -> float:
        return max(
            (t.seconds for t in self.ticks if t.seconds is not None and sensor in (None, t.sensor)),
            default=0.0,
        )

    @property
    def runs_per_minute(self) -> float:
        return self.files / self.drain_seconds * 60 if self.drain_seconds > 0 else float("nan")


def _runs_by_job(pg: Postgres, database: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for job, status, n in pg.query(
        database, "SELECT pipeline_name, status, count(*) FROM runs GROUP BY 1, 2"
    ):
        out.setdefault(job, {})[status] = n
    return out


def _failures(pg: Postgres, database: str) -> list[str]:
    """Partition and error messages of each failed run (from the event log table)."""
    rows = pg.query(
        database,
        "SELECT r.partition, e.event FROM runs r JOIN event_logs e ON e.run_id = r.run_id "
        "WHERE r.status = 'FAILURE' AND e.dagster_event_type IN ('STEP_FAILURE', 'PIPELINE_FAILURE', "
        "'RUN_FAILURE', 'ENGINE_EVENT') ORDER BY e.id",
    )
    out = []
    for partition, event in rows:
        messages = [m for m in re.findall(r'"message": "((?:[^"\\]|\\.)*)"', event) if m.strip()]
        if messages:
            out.append(f"{partition}: {' | '.join(messages)[:1500]}")
    return out


def _wait(
    what: str, done: Callable[[], bool], timeout: float, describe: Callable[[], str], poll: float = 2.0
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done within {timeout:.0f} s; {describe()}")
        time.sleep(poll)


def run_soak(
    work: Path,
    size: SoakSize,
    postgres_url: str,
    *,
    sensor_interval: int = 2,
    drain_timeout: float = 3600,
    build_timeout: float = 600,
    log: Callable[[str], None] = print,
    instance_yaml: str | None = None,
) -> SoakResult:
    """Land ``size`` into a ``dagster dev`` on the Postgres instance and measure (see the module doc)."""
    began = time.monotonic()
    pg = Postgres.from_url(postgres_url)
    data_dir = work / "data"
    env = {
        "PLATFORM_DATA_DIR": str(data_dir),
        "PLATFORM_SENSOR_INTERVAL_SECONDS": str(sensor_interval),
        "OMP_WAIT_POLICY": "passive",
    }
    with pg.scratch_database() as database:
        env |= pg.instance_env(database)
        instance_yaml = instance_yaml or POSTGRES_INSTANCE.read_text()
        with dagster_dev(work, env, instance_yaml=instance_yaml) as server:
            result = _soak(server, pg, database, data_dir, size, drain_timeout, build_timeout, log)
            result.sqlite_files = sorted(str(p.relative_to(server.home)) for p in server.home.rglob("*.db"))
    result.wall_seconds = time.monotonic() - began
    return result


def _soak(
    server: DagsterDev,
    pg: Postgres,
    database: str,
    data_dir: Path,
    size: SoakSize,
    drain_timeout: float,
    build_timeout: float,
    log: Callable[[str], None],
) -> SoakResult:
    port = server.port
    stop_sensor(port, DAYS_SENSOR)  # the drain is measured on ingests alone; builds come after
    with ProcessSampler(port) as rss:
        log(f"soak: landing {size.describe()}")
        t0 = time.time()
        landed = land_files(data_dir / "landing", size)
        landed_at = time.time()
        files = len(landed.lines_by_file)
        log(f"soak: landed {files:,} files, {landed.lines:,} lines in {landed_at - t0:.1f} s")

        def ingests() -> dict[str, int]:
            return _runs_by_job(pg, database).get(INGEST_JOB, {})

        def drained() -> bool:
            runs = ingests()
            finished = sum(runs.get(s, 0) for s in TERMINAL)
            return finished >= len(landed.lines_by_file) or runs.get("FAILURE", 0) > 0

        last_report = [time.monotonic()]

        def progress() -> str:
            return f"ingest runs by status: {ingests()}\n{server.log_tail()}"

        def drained_with_progress() -> bool:
            if time.monotonic() - last_report[0] > 60:
                last_report[0] = time.monotonic()
                log(f"soak: {time.time() - landed_at:.0f} s after landing: {ingests()}")
            return drained()

        _wait("ingest drain", drained_with_progress, drain_timeout, progress)
        ingest_runs = ingests()
        if ingest_runs.get("FAILURE"):
            raise RuntimeError(f"ingest runs failed: {_failures(pg, database)}\n{server.log_tail()}")
        windows = pg.query(
            database, f"SELECT start_time, end_time FROM runs WHERE pipeline_name = '{INGEST_JOB}'"
        )
        last_end = max((end for _, end in windows if end), default=landed_at)
        drain = last_end - landed_at
        log(f"soak: ingests {ingest_runs}, drained {drain:.1f} s after the last file landed")
        lake = count_lake(data_dir)

        # Two writers: both days requested by one tick of the lake-days sensor, through the run queue.
        pooled = pooled_steps(port)
        started = time.time()
        start_sensor(port, DAYS_SENSOR)
        expected_days = set(landed.events_by_day)

        def built() -> bool:
            runs = _runs_by_job(pg, database)
            builds = runs.get(BUILD_JOB, {})
            busy = sum(n for job in runs.values() for s, n in job.items() if s not in TERMINAL)
            if builds.get("FAILURE") or builds.get("CANCELED"):
                return True
            return (
                not busy
                and builds.get("SUCCESS", 0) >= len(expected_days)
                and set(warehouse_requests_by_day(data_dir)) >= expected_days
            )

        _wait(
            "day builds", built, build_timeout, lambda: f"{_runs_by_job(pg, database)}\n{server.log_tail()}"
        )
        build_runs = step_windows(port)
        build_end = max((r["endTime"] or started for r in build_runs), default=started)
        warehouse = warehouse_requests_by_day(data_dir)
        log(f"soak: {len(build_runs)} build_day runs; warehouse {warehouse}")

    ticks = sensor_ticks(port, [LANDING_SENSOR, DAYS_SENSOR, "monitor_built_days", "retrain_on_drift"])
    tables = {
        table: pg.query(database, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("runs", "event_logs", "job_ticks", "instigators", "asset_keys", "dynamic_partitions")
    }
    return SoakResult(
        size=size,
        landed=landed,
        lake=lake,
        landing_seconds=landed_at - t0,
        drain_seconds=drain,
        ingest_runs=ingest_runs,
        ingest_run_seconds=sorted(end - start for start, end in windows if start and end),
        ticks=ticks,
        build_runs=build_runs,
        pooled=pooled,
        warehouse_by_day=warehouse,
        lake_by_day_at_build=dict(count_lake(data_dir).events_by_day),
        build_seconds=build_end - started,
        postgres_tables=tables,
        runs_by_job=_runs_by_job(pg, database),
        sqlite_files=[],
        peak_rss_total_mb=rss.peak_total_mb,
        peak_rss_process_mb=rss.peak_process_mb,
        peak_rss_process=rss.peak_process,
        cpu_seconds=rss.cpu_seconds,
        processes=rss.processes_seen,
        wall_seconds=0.0,
    )


def overlapping_writes(result: SoakResult) -> list[tuple]:
    """Pairs of warehouse-pool steps (across build runs) that ran at the same time (expected: none)."""
    writes = sorted(
        (s["startTime"], s["endTime"], s["stepKey"], r["tags"].get("dagster/partition"))
        for r in result.build_runs
        for s in r["stepStats"]
        if s["stepKey"] in result.pooled and s["startTime"] and s["endTime"]
    )
    return [(a, b) for a, b in itertools.pairwise(writes) if b[0] < a[1]]


def runs_overlapped(result: SoakResult) -> bool:
    """Whether two build_day runs were in flight at the same time."""
    spans = sorted(
        (r["startTime"], r["endTime"]) for r in result.build_runs if r["startTime"] and r["endTime"]
    )
    return any(b[0] < a[1] for a, b in itertools.pairwise(spans))
