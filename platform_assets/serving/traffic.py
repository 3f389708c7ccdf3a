"""Which model answers a request: the deployment in force, its sticky split, and a shadow.

:class:`TrafficSplit` follows the deployment history (``models/serving.sqlite``, written by
``experiments/deployment``, the CLI and the experiment sensor) and the registry's champion without
a restart: the deployment id is polled at most once per ``poll_seconds`` (one indexed SQLite
read), the champion on every request (a ``stat``). A visitor's arm is
``deployment.assign(experiment, visitor)``, the same in every server process.

A pinned version (a challenger or the shadow) is verified against its registered sha256 before it
is loaded, once; a version that fails is never served. Its visitors get the champion's answer,
recorded under the arm ``fallback`` so that the A/B analysis, which compares the ``champion`` arm
with the challenger's, never counts an answer the challenger did not give. A shadow that fails is
skipped (and named by ``/readyz``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from platform_assets.lib.ml.deployment import CHAMPION, NO_EXPERIMENT, Deployment, DeploymentStore, assign
from platform_assets.lib.ml.scoring import Scorer
from platform_assets.serving.champion import ChampionWatcher

FALLBACK_ARM = "fallback"
DEFAULT_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Route:
    """Who answers one request, and what is recorded with the answer."""

    experiment: str
    deployment_id: int
    arm: str
    scorer: Scorer
    shadow: Scorer | None


class TrafficSplit:
    """The deployment in force and the scorers it names (see the module docstring)."""

    def __init__(self, models_dir: Path, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        self.champion = ChampionWatcher(models_dir)
        self.deployments = DeploymentStore(models_dir)
        self.pinned = self.champion.pinned  # challengers and the shadow load as the champion does
        self.poll_seconds = poll_seconds
        self._deployment: Deployment | None = None
        self._polled_at = -float("inf")
        self._lock = threading.Lock()

    def deployment(self) -> Deployment | None:
        """The deployment in force (re-read when its id changes; polled every ``poll_seconds``)."""
        if time.monotonic() - self._polled_at >= self.poll_seconds:
            with self._lock:
                if time.monotonic() - self._polled_at >= self.poll_seconds:
                    current = self.deployments.current_id()
                    if current != (self._deployment.id if self._deployment else 0):
                        self._deployment = self.deployments.current()
                    self._polled_at = time.monotonic()
        return self._deployment

    def route(self, visitor_id: str) -> Route:
        """The arm answering ``visitor_id``; ChampionUnavailable when no champion can be served."""
        deployed = self.deployment()
        champion = self.champion.current()
        if deployed is None or deployed.status != "running":
            return Route(NO_EXPERIMENT, deployed.id if deployed else 0, CHAMPION, champion, None)
        arm = assign(deployed, visitor_id)
        name, scorer = arm.name, champion
        if arm.version is not None:
            pinned = self.pinned.get(arm.version)
            if pinned is None:
                name = FALLBACK_ARM
            else:
                scorer = pinned
        shadow = self.pinned.get(deployed.shadow) if deployed.shadow else None
        return Route(deployed.experiment, deployed.id, name, scorer, shadow)

    def problems(self) -> list[str]:
        """What the deployment in force names but cannot be served (for ``/readyz``)."""
        deployed = self.deployment()
        if deployed is None or deployed.status != "running":
            return []
        versions = [a.version for a in deployed.arms if a.version] + [deployed.shadow or ""]
        problems = []
        for version in filter(None, versions):
            if self.pinned.get(version) is None:
                problems.append(self.pinned.problem(version) or f"{version}: cannot be served")
        return problems
