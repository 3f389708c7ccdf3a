"""Which model versions answer live traffic, in what shares, and which arm each visitor gets.

A *deployment* is one experiment: the ``champion`` arm, zero or more challenger arms with their
shares of visitors, and an optional *shadow* version that scores every request but never answers.
The champion arm names no version: it follows the registry's champion pointer, so a promotion or
a rollback reaches the server without a new deployment. A challenger names its version.

Deployments are rows of a SQLite database (``models/serving.sqlite``): the CLI, the Dagster assets
and the experiment sensor write them in transactions, the prediction server only reads, and every
change is a new row (the history is kept; the current deployment is the last row). Reading
:meth:`DeploymentStore.current_id` is one indexed query, cheap enough to poll per request.

Assignment is sticky: ``sha256(experiment, visitor)`` read as a number in [0, 1) picks the arm
by cumulative share, so a visitor keeps its arm for the life of the experiment, whichever server
process answers, and a new experiment draws again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore, validate_version

DATABASE_FILE = "serving.sqlite"
CHAMPION = "champion"
# Recorded with answers given when no experiment runs (none yet, or the last one ended).
NO_EXPERIMENT = "none"
BUSY_TIMEOUT_MS = 30_000
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment TEXT NOT NULL,
    arms TEXT NOT NULL,
    shadow TEXT,
    budget_sessions INTEGER,
    status TEXT NOT NULL CHECK (status IN ('running', 'ended')),
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    evidence TEXT
)
"""


@dataclass(frozen=True)
class Arm:
    """One arm: its name, the version it serves (None: the registry's champion) and its share."""

    name: str
    version: str | None
    share: float


@dataclass(frozen=True)
class Deployment:
    """One row of the deployment history (see the module docstring)."""

    id: int
    experiment: str
    arms: tuple[Arm, ...]
    shadow: str | None
    budget_sessions: int | None
    status: str
    reason: str
    actor: str
    at: str
    evidence: dict[str, Any] | None = None

    def arm(self, name: str) -> Arm:
        """The arm called ``name``; KeyError when the deployment has none."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_arms(arms: list[Arm] | tuple[Arm, ...], shadow: str | None = None) -> tuple[Arm, ...]:
    """Arms as stored: the champion first, names valid and unique, shares in (0, 1] summing to 1,
    challengers with a version; ValueError naming the fault otherwise."""
    arms = tuple(arms)
    names = [a.name for a in arms]
    if names.count(CHAMPION) != 1:
        raise ValueError("a deployment has exactly one 'champion' arm")
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be unique, got {names}")
    for arm in arms:
        if not _NAME.match(arm.name):
            raise ValueError(f"arm name {arm.name!r}: lowercase letters, digits, '-' or '_', at most 40")
        if not (isinstance(arm.share, int | float) and math.isfinite(arm.share) and 0 < arm.share <= 1):
            raise ValueError(f"arm {arm.name!r}: share must be in (0, 1], got {arm.share!r}")
        if arm.name == CHAMPION and arm.version is not None:
            raise ValueError("the champion arm follows the registry's champion: it names no version")
        if arm.name != CHAMPION:
            if arm.version is None:
                raise ValueError(f"arm {arm.name!r} needs a model version")
            validate_version(arm.version)
    if abs(sum(a.share for a in arms) - 1) > 1e-9:
        raise ValueError(f"shares must sum to 1, got {sum(a.share for a in arms)!r}")
    if shadow is not None:
        validate_version(shadow)
    champion = next(a for a in arms if a.name == CHAMPION)
    return (champion, *(a for a in arms if a.name != CHAMPION))


def assignment_point(experiment: str, visitor: str) -> float:
    """The visitor's fixed point in [0, 1) for this experiment (uniform over visitors)."""
    digest = hashlib.sha256(f"{experiment}\0{visitor}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(deployment: Deployment, visitor: str) -> Arm:
    """The arm that answers ``visitor``: the same every time within the experiment."""
    point, upper = assignment_point(deployment.experiment, visitor), 0.0
    for arm in deployment.arms:
        upper += arm.share
        if point < upper:
            return arm
    return deployment.arms[-1]  # shares summing to 1 - 1e-16


def challenger_share(deployment: Deployment, arm: str) -> float:
    """The assignment probability of ``arm`` among the visitors of it and the champion."""
    share = deployment.arm(arm).share
    return share / (share + deployment.arm(CHAMPION).share)


def start_experiment(
    models_dir: Path | str,
    experiment: str,
    *,
    reason: str,
    actor: str,
    challenger: str | None = None,
    share: float = 0.1,
    shadow: str | None = None,
    budget_sessions: int | None = None,
) -> Deployment:
    """Put in force a split of ``share`` of visitors to ``challenger`` (none: the champion alone)
    and an optional shadow, after verifying each pinned version's files against the registry.
    ValueError naming the fault otherwise (nothing is written)."""
    store = ModelStore(models_dir)
    for version in filter(None, (challenger, shadow)):
        try:
            store.verify(version)  # registered and intact, before any server is told to load it
        except ModelIntegrityError as error:
            raise ValueError(str(error)) from None
    arms = [Arm(CHAMPION, None, 1 - share if challenger else 1.0)]
    if challenger:
        arms.append(Arm("challenger", challenger, share))
    return DeploymentStore(models_dir).deploy(
        experiment, arms, reason=reason, actor=actor, shadow=shadow, budget_sessions=budget_sessions
    )


class DeploymentStore:
    """The deployment history of one data directory (``models/serving.sqlite``)."""

    def __init__(self, models_dir: Path | str) -> None:
        self.path = Path(models_dir) / DATABASE_FILE

    def current(self) -> Deployment | None:
        """The deployment in force (the last row), or None before the first."""
        if not self.path.exists():  # a reader never creates the database
            return None
        with self._connect() as con:
            row = con.execute("SELECT * FROM deployments ORDER BY id DESC LIMIT 1").fetchone()
        return _deployment(row) if row else None

    def current_id(self) -> int:
        """The id of the deployment in force, 0 before the first (cheap: poll it)."""
        if not self.path.exists():
            return 0
        with self._connect() as con:
            return con.execute("SELECT coalesce(max(id), 0) FROM deployments").fetchone()[0]

    def history(self) -> list[Deployment]:
        """Every deployment, oldest first."""
        with self._connect() as con:
            return [_deployment(r) for r in con.execute("SELECT * FROM deployments ORDER BY id")]

    def deploy(
        self,
        experiment: str,
        arms: list[Arm] | tuple[Arm, ...],
        *,
        reason: str,
        actor: str,
        shadow: str | None = None,
        budget_sessions: int | None = None,
    ) -> Deployment:
        """Put a new deployment in force (its arms validated); returns it."""
        if not _NAME.match(experiment) or experiment == NO_EXPERIMENT:
            raise ValueError(
                f"experiment {experiment!r}: lowercase letters, digits, '-' or '_', at most 40 "
                f"(and not {NO_EXPERIMENT!r})"
            )
        arms = validate_arms(arms, shadow)
        if budget_sessions is not None and budget_sessions < 1:
            raise ValueError(f"budget_sessions must be positive, got {budget_sessions!r}")
        with self._connect() as con, _write(con):
            earlier = con.execute(
                "SELECT arms, status FROM deployments WHERE experiment = ? ORDER BY id", (experiment,)
            ).fetchall()
            if any(row["status"] == "ended" for row in earlier):
                raise ValueError(f"experiment {experiment!r} has ended: a new experiment needs a new name")
            if earlier and tuple(Arm(**a) for a in json.loads(earlier[0]["arms"])) != arms:
                # a moved boundary would move visitors between arms mid-experiment
                raise ValueError(
                    f"experiment {experiment!r} ran with other arms: a new split is a new experiment"
                )
            values = (experiment, arms, shadow, budget_sessions, "running", reason, actor, None)
            return self._insert_in(con, *values)

    def end(self, experiment: str, *, reason: str, actor: str, evidence: dict[str, Any]) -> Deployment:
        """End the running ``experiment``: the champion alone answers again (the decision and its
        evidence are kept in the new row). ValueError when that experiment is not in force."""
        with self._connect() as con, _write(con):
            row = con.execute("SELECT * FROM deployments ORDER BY id DESC LIMIT 1").fetchone()
            if row is None or row["experiment"] != experiment or row["status"] != "running":
                raise ValueError(f"experiment {experiment!r} is not the running deployment")
            return self._insert_in(
                con, experiment, (Arm(CHAMPION, None, 1.0),), None, None, "ended", reason, actor, evidence
            )

    @staticmethod
    def _insert_in(
        con: sqlite3.Connection,
        experiment: str,
        arms: tuple[Arm, ...],
        shadow: str | None,
        budget: int | None,
        status: str,
        reason: str,
        actor: str,
        evidence: dict[str, Any] | None,
    ) -> Deployment:
        cursor = con.execute(
            "INSERT INTO deployments (experiment, arms, shadow, budget_sessions, status, reason, actor, at, "
            "evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                experiment,
                json.dumps([asdict(a) for a in arms]),
                shadow,
                budget,
                status,
                reason,
                actor,
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                None if evidence is None else json.dumps(evidence, sort_keys=True, default=str),
            ),
        )
        row = con.execute("SELECT * FROM deployments WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _deployment(row)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as con:
            con.row_factory = sqlite3.Row
            # WAL: the server's reads never wait for a writer, nor block one
            con.execute("PRAGMA journal_mode = WAL")
            con.execute(_SCHEMA)
            yield con


@contextmanager
def _write(con: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (concurrent writers queue)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _deployment(row: sqlite3.Row) -> Deployment:
    return Deployment(
        id=row["id"],
        experiment=row["experiment"],
        arms=tuple(Arm(**a) for a in json.loads(row["arms"])),
        shadow=row["shadow"],
        budget_sessions=row["budget_sessions"],
        status=row["status"],
        reason=row["reason"],
        actor=row["actor"],
        at=row["at"],
        evidence=None if row["evidence"] is None else json.loads(row["evidence"]),
    )
