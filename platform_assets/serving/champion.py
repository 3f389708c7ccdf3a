"""The champion the service answers with, followed without a restart.

:class:`ChampionWatcher` reads the model registry's ``stat`` on every request (about a
microsecond); when the file changed and names another champion, that version's files are
verified against their registered sha256 and only then loaded. A champion that fails its check,
or that the service cannot load (a Spark ML model), is never served: the service answers 503 until
the registry names one it can serve, rather than keep answering with a model the registry no
longer names. A refused version is tried again when the registry changes, and every
``DEFAULT_RETRY_SECONDS`` while it is named: once its files are put right it is served again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from platform_assets.lib.ml.model_store import REGISTRY_FILE, SPARK_FORMAT, ModelIntegrityError, ModelStore
from platform_assets.lib.ml.scoring import Scorer, load_scorer

log = logging.getLogger(__name__)
# A version refused (files not matching the registry, or not loadable) is tried again this much later.
DEFAULT_RETRY_SECONDS = 30.0


class ChampionUnavailable(RuntimeError):
    """No champion, or one whose files fail their hash, or one this service cannot load."""


class PinnedVersions:
    """Scorers of named versions, each verified against the registry, then kept.

    A version that fails (its files do not match their registered sha256, or cannot be loaded) is
    not served, and is tried again ``retry_seconds`` later or at once after :meth:`retry_failed`
    (the registry changed): a version whose files are put right, or registered again, is served
    without a restart. A kept scorer is never checked again: its bytes were verified as loaded.
    """

    def __init__(
        self,
        store: ModelStore,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.retry_seconds, self.clock = store, retry_seconds, clock
        self._loaded: dict[str, Scorer] = {}
        self._failed: dict[str, tuple[str, float]] = {}  # version -> (problem, when it was tried)
        self._lock = threading.Lock()

    def get(self, version: str) -> Scorer | None:
        """The verified scorer of ``version``, or None when it cannot be served (see :meth:`problem`)."""
        scorer = self._loaded.get(version)
        if scorer is None and self._due(version):
            with self._lock:
                scorer = self._loaded.get(version)
                if scorer is None and self._due(version):
                    scorer = self._load(version)
        return scorer

    def problem(self, version: str) -> str | None:
        failed = self._failed.get(version)
        return failed[0] if failed else None

    def retry_failed(self) -> None:
        """Try every failed version again on its next use."""
        with self._lock:
            self._failed = {version: (problem, -math.inf) for version, (problem, _) in self._failed.items()}

    def _due(self, version: str) -> bool:
        failed = self._failed.get(version)
        return failed is None or self.clock() - failed[1] >= self.retry_seconds

    def _load(self, version: str) -> Scorer | None:
        before, problem = self.problem(version), None
        try:
            if self.store.get(version).format == SPARK_FORMAT:
                problem = f"{version} is a Spark ML model; only scikit-learn ones are served"
            else:
                self.store.verify(version)  # model, reference and card against the registry
                scorer = load_scorer(self.store, version)  # hashes the bytes it loads
        except (ModelIntegrityError, OSError, ValueError, KeyError) as error:
            problem = f"{version}: {type(error).__name__}: {error}"
        if problem is not None:
            if problem != before:  # once per problem, not once per retry
                log.error("not serving %s", problem)
            self._failed[version] = (problem, self.clock())
            return None
        if before is not None:
            log.warning("serving %s again: its files now match the registry", version)
        self._failed.pop(version, None)
        self._loaded[version] = scorer
        return scorer


class ChampionWatcher:
    """The registry's champion, loaded and verified, reloaded when the registry changes (and, while
    none can be served, every ``retry_seconds``)."""

    def __init__(
        self,
        models_dir: Path,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = ModelStore(models_dir)
        self.pinned = PinnedVersions(self.store, retry_seconds, clock)  # each version verified, then kept
        self._scorer: Scorer | None = None
        self._seen: tuple[int, int] | None = None
        self._tried_at = -math.inf
        self._error: str | None = "not loaded yet"
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.store.root / REGISTRY_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def current(self) -> Scorer:
        stamp = self._stamp()
        if stamp != self._seen or self._retry_due():
            with self._lock:
                if stamp != self._seen or self._retry_due():
                    self._reload(stamp)
        if self._scorer is None:
            raise ChampionUnavailable(self._error or "no champion loaded")
        return self._scorer

    def _retry_due(self) -> bool:
        return self._scorer is None and self.pinned.clock() - self._tried_at >= self.pinned.retry_seconds

    def _reload(self, stamp: tuple[int, int] | None) -> None:
        self.pinned.retry_failed()  # the registry changed, or it is time: a refused version may be right now
        self._tried_at = self.pinned.clock()
        try:
            champion = self.store.champion()
            if champion is None:
                raise ChampionUnavailable("the registry has no champion: train and promote a model first")
            scorer = self.pinned.get(champion.version)
            if scorer is None:
                raise ChampionUnavailable(f"champion {self.pinned.problem(champion.version)}")
            self._scorer, self._error = scorer, None
        except (ChampionUnavailable, ModelIntegrityError, OSError, ValueError, KeyError) as error:
            self._scorer, self._error = None, f"{type(error).__name__}: {error}"
        self._seen = stamp

    @property
    def error(self) -> str | None:
        return self._error
