"""The landing-folder sensor: one ``ingest_log_file`` run per new, complete, not yet seen landed file
(``ingest_decision_log`` for the prediction server's decision logs, under ``landing/decisions/``).

Files land by hand or by a shipper at any time and any depth: a tick requests a file once its size
and mtime have stopped changing, never twice for the same content, and skips (with one log line)
what is unsafe or unreadable without stopping. The cursor holds only what is in flight; requested
files are the ``log_files`` partitions, and their content the instance's runs tagged with its sha256
(the cursor keeps only the most recent, a bounded window). Design notes: ``docs/design/landing_sensor.md``.
"""

import dataclasses
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg

from platform_assets.layers.common.jobs import ingest_decisions_job, ingest_job
from platform_assets.layers.common.names import (
    INGEST_DECISIONS_JOB,
    INGEST_JOB,
    LANDING_FILES_SENSOR,
    PARTITION_TAG,
    SHA256_TAG,
)
from platform_assets.layers.common.partitions import log_files
from platform_assets.layers.common.storage import PlatformStorage
from platform_assets.layers.raw.assets import LOG_FILES
from platform_assets.lib.decision_log import is_decision_log
from platform_assets.lib.layout import (
    IN_PROGRESS_SUFFIXES,
    DataLayout,
    UnsafePathError,
    file_id,
    validate_file_key,
)

CURSOR_VERSION = 1
HASH_PREFIX_CHARS = 16
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Dagster reads "a...b" as a partition range in the UI and CLI: such keys are not usable.
PARTITION_RANGE_SEPARATOR = "..."

# skip kinds kept in the cursor
UNSAFE = "unsafe"  # rejected by the walk (name, symlink, folder): re-derived every tick, logged once
DUPLICATE = "duplicate"  # same content as a requested file: looked at again only if it changes
UNREADABLE = "unreadable"  # could not be read: looked at again when it changes or becomes readable

# what became of the runs requested for a content (docs/design/landing_sensor.md, "Failed ingests")
LANDED, IN_FLIGHT, FAILED = "landed", "in flight", "failed"
ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
# (partition key, status) of every run requested for a sha256
ContentRuns = Callable[[str], list[tuple[str, dg.DagsterRunStatus]]]


@dataclasses.dataclass(frozen=True)
class LandingSensorConfig:
    """Limits of one tick and the definition of a stable file."""

    max_files_per_tick: int = 200
    max_bytes_per_tick: int = 512 << 20
    stable_ticks: int = 1
    min_quiet_seconds: float = 0.0
    max_pending_files: int | None = None  # default: 2 x max_files_per_tick
    # the content of the most recently requested files kept in the cursor (19 bytes each); older
    # content is looked up in the instance (runs tagged with its sha256)
    max_remembered_hashes: int = 1_000

    def __post_init__(self) -> None:
        if self.max_files_per_tick < 1 or self.max_bytes_per_tick < 1:
            raise ValueError("max_files_per_tick and max_bytes_per_tick must be positive")
        if self.stable_ticks < 1:
            raise ValueError("stable_ticks must be >= 1: a file is never requested on its first sighting")
        if self.min_quiet_seconds < 0:
            raise ValueError("min_quiet_seconds must be >= 0")
        if self.max_pending_files is not None and self.max_pending_files < self.max_files_per_tick:
            raise ValueError("max_pending_files must be at least max_files_per_tick")
        if self.max_remembered_hashes < 0:
            raise ValueError("max_remembered_hashes must be >= 0")

    @property
    def pending_cap(self) -> int:
        return self.max_pending_files or 2 * self.max_files_per_tick


@dataclasses.dataclass
class LandingCursor:
    """The sensor's memory between ticks (JSON format: docs/design/landing_sensor.md)."""

    pending: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    skipped: dict[str, list] = dataclasses.field(default_factory=dict)
    sha256: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "pending": self.pending, "skipped": self.skipped, "sha256": self.sha256},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> "LandingCursor":
        """Parse a cursor; ``ValueError`` when it is not one this version wrote."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown cursor version: {str(raw)[:80]!r}")
        pending, skipped, hashes = data.get("pending", {}), data.get("skipped", {}), data.get("sha256", [])
        if not (isinstance(pending, dict) and isinstance(skipped, dict) and isinstance(hashes, list)):
            raise ValueError("malformed cursor")
        for entry in pending.values():
            if not (isinstance(entry, list) and len(entry) == 3 and all(isinstance(v, int) for v in entry)):
                raise ValueError(f"malformed pending entry: {entry!r}")
        for entry in skipped.values():
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                raise ValueError(f"malformed skipped entry: {entry!r}")
        return cls(pending=pending, skipped=skipped, sha256=[str(h) for h in hashes])


@dataclasses.dataclass
class LandingScan:
    """What a walk of the landing folder found."""

    candidates: list[str]  # acceptable keys, sorted
    rejected: dict[str, str]  # key (a folder key ends with "/") -> why it is skipped
    ignored: int  # hidden or in-progress entries, left for later without a log line
    unreadable_dirs: list[str]  # folder keys ("" = landing itself) that could not be listed


@dataclasses.dataclass
class TickPlan:
    """The outcome of one tick: files to request (key, sha256) and the next cursor."""

    requests: list[tuple[str, str]]
    cursor: LandingCursor
    summary: str


def _scandir(path: Path) -> list[os.DirEntry]:
    """One folder's entries, sorted by name (a seam for tests: root ignores permissions)."""
    with os.scandir(path) as entries:
        return sorted(entries, key=lambda e: e.name)


def _open_for_hashing(path: Path) -> int:
    """Open a resolved landed file without following a symlink swapped in at the last moment."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)


def _is_readable(path: Path) -> bool:
    return os.access(path, os.R_OK)


def file_key_problem(key: str) -> str | None:
    """Why a key that passed the walk cannot be a partition key, or None (the CLI's rule too)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    try:
        validate_file_key(key)
    except UnsafePathError as exc:
        return str(exc)
    if PARTITION_RANGE_SEPARATOR in key:
        return f"file key contains {PARTITION_RANGE_SEPARATOR!r}, which Dagster reads as a partition range"
    return None


def scan_landing(landing: Path) -> LandingScan:
    """Walk the landing folder; never raises for one bad entry.

    Symlinks are never followed: one leaving the folder is refused, one inside it is an alias of a
    file that is found (and ingested, if acceptable) under its own name.
    """
    scan = LandingScan(candidates=[], rejected={}, ignored=0, unreadable_dirs=[])
    if not landing.is_dir():
        return scan
    root = landing.resolve()
    stack: list[tuple[str, Path]] = [("", landing)]
    while stack:
        prefix, folder = stack.pop()
        try:
            entries = _scandir(folder)
        except FileNotFoundError:  # removed while we walked
            continue
        except OSError as exc:
            scan.rejected[prefix or "./"] = f"folder cannot be listed ({exc.strerror or exc})"
            scan.unreadable_dirs.append(prefix)
            continue
        for entry in entries:
            key = prefix + entry.name
            if entry.name.startswith(".") or entry.name.endswith(IN_PROGRESS_SUFFIXES):
                scan.ignored += 1  # hidden, or still being written: a later tick will see it
                continue
            try:
                if entry.is_symlink():
                    target = Path(os.path.realpath(entry.path))
                    if not target.is_relative_to(root):
                        scan.rejected[key] = f"symlink points outside the landing folder ({target})"
                    else:
                        inside = target.relative_to(root).as_posix()
                        scan.rejected[key] = (
                            f"symlink to {inside!r} (files are ingested under their own name)"
                        )
                    continue
                elif entry.is_dir():
                    stack.append((key + "/", Path(entry.path)))
                    continue
                elif not entry.is_file():
                    scan.rejected[key] = "not a regular file (device, socket or pipe)"
                    continue
            except OSError as exc:
                scan.rejected[key] = f"cannot be inspected ({exc.strerror or exc})"
                continue
            problem = file_key_problem(key)
            if problem:
                scan.rejected[key] = problem
            else:
                scan.candidates.append(key)
    scan.candidates.sort()
    return scan


def _signature(layout: DataLayout, key: str) -> tuple[int, int]:
    """(size, mtime_ns) of a landed file, through the layout's containment check."""
    info = layout.landed_path(key).stat()
    return info.st_size, info.st_mtime_ns


def hash_landed_file(layout: DataLayout, key: str) -> tuple[str, tuple[int, int]]:
    """sha256 of a landed file and the (size, mtime_ns) of exactly the bytes that were read.

    Raises ``UnsafePathError`` if the key resolves outside landing, ``FileNotFoundError`` when it
    is gone, ``OSError`` when it cannot be read.
    """
    path = layout.landed_path(key)
    fd = _open_for_hashing(path)
    with open(fd, "rb", closefd=True) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{key!r} is not a regular file")
        digest = hashlib.file_digest(f, "sha256")
        info = os.fstat(f.fileno())
    return digest.hexdigest(), (info.st_size, info.st_mtime_ns)


def _under(key: str, folders: Iterable[str]) -> bool:
    return any(key.startswith(folder) for folder in folders)


class _Tick:
    """One tick's decisions, in three passes: refresh pending files, sight new ones, request stable ones."""

    def __init__(
        self,
        layout: DataLayout,
        cursor: LandingCursor,
        requested: set[str],
        config: LandingSensorConfig,
        now: float,
        log: logging.Logger,
        content_runs: ContentRuns,
    ) -> None:
        self.layout, self.old, self.requested = layout, cursor, requested
        self.config, self.now, self.log = config, now, log
        self.content_runs = content_runs
        self.scan = scan_landing(layout.landing)
        self.pending: dict[str, list[int]] = {}
        self.skipped: dict[str, list] = {}
        self.requests: list[tuple[str, str]] = []
        self.counts = dict.fromkeys(("new", "waiting", "duplicates", "removed", "files", "bytes"), 0)

    def _removed(self, key: str) -> None:
        self.log.info(f"landing: {key!r} was removed before it was processed; skipped")
        self.counts["removed"] += 1

    def _unreadable(self, key: str, exc: Exception, sig: tuple[int | None, int | None]) -> None:
        previous = self.old.skipped.get(key)
        if previous is None or previous[0] != UNREADABLE:
            self.log.warning(f"landing: skipping {key!r}: cannot be read ({exc})")
        self.skipped[key] = [UNREADABLE, *sig]

    def reject_unsafe(self) -> None:
        for key, reason in self.scan.rejected.items():
            if self.old.skipped.get(key, [None])[0] != UNSAFE:
                self.log.warning(f"landing: skipping {key!r}: {reason}")
            self.skipped[key] = [UNSAFE, None, None]

    def refresh_pending(self) -> None:
        """Files seen on earlier ticks: count a tick without change, restart the wait on a change."""
        candidates = set(self.scan.candidates)
        for key, (size, mtime, ticks) in self.old.pending.items():
            if key not in candidates:
                if key in self.scan.rejected:
                    continue  # logged as unsafe (e.g. replaced by a symlink leaving the folder)
                if _under(key, self.scan.unreadable_dirs):
                    self.pending[key] = [size, mtime, ticks]  # out of sight this tick: keep waiting
                else:
                    self._removed(key)
                continue
            try:
                sig = _signature(self.layout, key)
            except FileNotFoundError:
                self._removed(key)
                continue
            except (UnsafePathError, OSError) as exc:
                self._unreadable(key, exc, (None, None))
                continue
            self.pending[key] = [*sig, ticks + 1] if sig == (size, mtime) else [*sig, 0]

    def sight_new(self) -> None:
        """Files not pending: already requested, skipped earlier and unchanged, or new (= pending)."""
        for key in self.scan.candidates:
            if key in self.pending or key in self.skipped:
                continue
            previous = self.old.skipped.get(key)
            retry = previous is not None and previous[0] in (DUPLICATE, UNREADABLE)
            if key in self.requested and not retry:
                continue
            try:
                path = self.layout.landed_path(key)
                info = path.stat()
            except FileNotFoundError:
                continue  # gone since the walk, never pending: nothing to report
            except (UnsafePathError, OSError) as exc:
                self._unreadable(key, exc, (None, None))
                continue
            sig = [info.st_size, info.st_mtime_ns]
            if retry and sig == previous[1:] and (previous[0] == DUPLICATE or not _is_readable(path)):
                self.skipped[key] = previous
                continue
            if len(self.pending) >= self.config.pending_cap:
                self.counts["waiting"] += 1
                continue
            self.pending[key] = [*sig, 0]
            self.counts["new"] += 1

    def _stable(self, mtime_ns: int, ticks: int) -> bool:
        quiet = self.now - mtime_ns / 1e9 >= self.config.min_quiet_seconds
        return ticks >= self.config.stable_ticks and quiet

    def request_stable(self) -> None:
        """Hash stable files (first seen first, within the tick's limits); request new content."""
        known = dict.fromkeys(self.old.sha256)
        first_of: dict[str, str] = {}
        for key, (size, mtime, ticks) in list(self.pending.items()):
            if not self._stable(mtime, ticks):
                continue
            files, hashed = self.counts["files"], self.counts["bytes"]
            over_budget = files > 0 and hashed + size > self.config.max_bytes_per_tick
            if files >= self.config.max_files_per_tick or over_budget:
                break  # the rest stays pending, in order, for the next ticks
            self.counts["files"] += 1
            del self.pending[key]
            try:
                digest, sig = hash_landed_file(self.layout, key)
            except FileNotFoundError:
                self._removed(key)
                continue
            except (UnsafePathError, OSError) as exc:
                self._unreadable(key, exc, (size, mtime))
                continue
            self.counts["bytes"] += sig[0]
            if sig != (size, mtime):
                self.log.info(f"landing: {key!r} changed while it was hashed; waiting for it to settle")
                self.pending[key] = [*sig, 0]
                continue
            prefix = digest[:HASH_PREFIX_CHARS]
            runs: list[tuple[str, dg.DagsterRunStatus]] | None = None
            if digest != EMPTY_SHA256 and prefix not in known and prefix not in first_of:
                # beyond the cursor's recent content, the instance knows what was requested
                runs = self.content_runs(digest)
                if runs:
                    known[prefix] = None
            if digest != EMPTY_SHA256 and prefix in known and prefix not in first_of:
                known[prefix] = known.pop(prefix)  # most recently seen: kept longest
                earlier = self._earlier_ingest(digest, runs)
                if earlier == IN_FLIGHT:
                    self.log.info(
                        f"landing: {key!r} has the content of a file whose run is in flight; "
                        "waiting for its outcome"
                    )
                    self.pending[key] = [*sig, ticks]
                    continue
                if earlier == FAILED:
                    self.log.info(
                        f"landing: {key!r} has the content of a file whose ingest failed without "
                        "landing anything (renamed or removed?); requesting it"
                    )
                    first_of[prefix] = key
                    self.requests.append((key, digest))
                    continue
            if digest != EMPTY_SHA256 and prefix in known:
                original = first_of.get(prefix, "a file ingested earlier")
                self.log.warning(
                    f"landing: skipping {key!r}: same content (sha256 {digest[:12]}...) as "
                    f"{original!r}; not ingested twice"
                )
                self.skipped[key] = [DUPLICATE, size, mtime]
                self.counts["duplicates"] += 1
                continue
            if digest != EMPTY_SHA256:
                known[prefix] = None
                first_of[prefix] = key
            self.requests.append((key, digest))
        hashes = list(known)
        self.hashes = hashes[max(0, len(hashes) - self.config.max_remembered_hashes) :]

    def _earlier_ingest(self, digest: str, runs: list[tuple[str, dg.DagsterRunStatus]] | None) -> str:
        """LANDED, IN_FLIGHT or FAILED: what became of the runs requested for this content
        (``runs``, when already fetched)."""
        runs = self.content_runs(digest) if runs is None else runs
        if not runs:
            return LANDED  # seeded from raw/log_files or ingested without the sensor
        if any(status == dg.DagsterRunStatus.SUCCESS for _, status in runs):
            return LANDED
        if any(status not in ENDED for _, status in runs):
            return IN_FLIGHT
        for key, _ in runs:  # all failed or canceled: did one of them publish anything?
            fid = file_id(key)
            if self.layout.fragments_of(fid) or self.layout.quarantine_file(fid).exists():
                return LANDED
        return FAILED

    def plan(self) -> "TickPlan":
        self.reject_unsafe()
        self.refresh_pending()
        self.sight_new()
        self.request_stable()
        c = self.counts
        parts = {
            "new": c["new"],
            "waiting beyond the pending cap": c["waiting"],
            "duplicates": c["duplicates"],
            "removed": c["removed"],
            "skipped": len(self.skipped),
            "hidden or in progress": self.scan.ignored,
        }
        summary = f"{len(self.requests)} requested, {len(self.pending)} pending" + "".join(
            f", {n} {label}" for label, n in parts.items() if n
        )
        summary += f" ({c['files']} files, {c['bytes']} bytes hashed)"
        cursor = LandingCursor(pending=self.pending, skipped=self.skipped, sha256=self.hashes)
        return TickPlan(self.requests, cursor, summary)


def plan_tick(
    layout: DataLayout,
    cursor: LandingCursor,
    requested: set[str],
    config: LandingSensorConfig,
    now: float,
    log: logging.Logger,
    content_runs: ContentRuns = lambda digest: [],
) -> TickPlan:
    """Decide what one tick requests. ``requested``: keys that are already ``log_files`` partitions;
    ``content_runs(sha256)``: (partition key, status) of the runs requested for that content."""
    return _Tick(layout, cursor, requested, config, now, log, content_runs).plan()


def instance_content_runs(instance: dg.DagsterInstance) -> ContentRuns:
    """The runs of the instance tagged with a content's sha256 (the sensor's run requests)."""

    def content_runs(digest: str) -> list[tuple[str, dg.DagsterRunStatus]]:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={SHA256_TAG: digest}), limit=100)
        return [(run.tags.get(PARTITION_TAG, ""), run.status) for run in runs]

    return content_runs


def seed_hashes(instance: dg.DagsterInstance, limit: int) -> list[str]:
    """Hash prefixes of the most recent ``raw/log_files`` materializations, oldest first."""
    prefixes: list[str] = []
    page: str | None = None
    while len(prefixes) < limit:
        result = instance.fetch_materializations(
            LOG_FILES, limit=min(1000, limit - len(prefixes)), cursor=page
        )
        for record in result.records:
            materialization = record.asset_materialization
            entry = materialization.metadata.get("sha256") if materialization else None
            value = getattr(entry, "value", None)
            if isinstance(value, str) and len(value) == 64 and value != EMPTY_SHA256:
                prefixes.append(value[:HASH_PREFIX_CHARS])
        if not result.has_more or not result.records:
            break
        page = result.cursor
    return list(dict.fromkeys(reversed(prefixes)))


def build_landing_files_sensor(
    *,
    name: str = LANDING_FILES_SENSOR,
    max_files_per_tick: int = 200,
    max_bytes_per_tick: int = 512 << 20,
    stable_ticks: int = 1,
    min_quiet_seconds: float = 0.0,
    max_pending_files: int | None = None,
    max_remembered_hashes: int = 1_000,
    clock: Callable[[], float] = time.time,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The landing sensor with its limits (tests use small ones and a fake clock)."""
    config = LandingSensorConfig(
        max_files_per_tick=max_files_per_tick,
        max_bytes_per_tick=max_bytes_per_tick,
        stable_ticks=stable_ticks,
        min_quiet_seconds=min_quiet_seconds,
        max_pending_files=max_pending_files,
        max_remembered_hashes=max_remembered_hashes,
    )

    @dg.sensor(
        jobs=[ingest_job, ingest_decisions_job],
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            f"Watches PLATFORM_DATA_DIR/landing (any depth) and starts one {INGEST_JOB} run per new "
            f"file ({INGEST_DECISIONS_JOB} for the prediction server's decision logs, under decisions/) "
            f"once its size and mtime are unchanged for {stable_ticks} tick(s). Skips hidden and "
            "in-progress names, symlinks leaving the folder and content already ingested under another "
            f"name; at most {max_files_per_tick} files per tick."
        ),
    )
    def _landing_files_sensor(
        context: dg.SensorEvaluationContext, storage: PlatformStorage
    ) -> dg.SensorResult:
        if context.cursor:
            try:
                cursor = LandingCursor.from_json(context.cursor)
            except ValueError as exc:
                context.log.warning(f"landing: unreadable cursor, starting over ({exc})")
                cursor = LandingCursor(sha256=seed_hashes(context.instance, config.max_remembered_hashes))
        else:
            cursor = LandingCursor(sha256=seed_hashes(context.instance, config.max_remembered_hashes))
        requested = set(context.instance.get_dynamic_partitions(log_files.name))
        plan = plan_tick(
            storage.layout,
            cursor,
            requested,
            config,
            clock(),
            context.log,
            instance_content_runs(context.instance),
        )
        context.log.info(f"landing: {plan.summary}")
        if not plan.requests:
            return dg.SensorResult(skip_reason=plan.summary, cursor=plan.cursor.to_json())
        keys = [key for key, _ in plan.requests]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{key}:{digest}",
                    job_name=INGEST_DECISIONS_JOB if is_decision_log(key) else INGEST_JOB,
                    partition_key=key,
                    tags={SHA256_TAG: digest},
                )
                for key, digest in plan.requests
            ],
            dynamic_partitions_requests=[log_files.build_add_request(keys)],
            cursor=plan.cursor.to_json(),
        )

    return _landing_files_sensor


landing_files_sensor = build_landing_files_sensor()
