"""The champion the service answers with, followed without a restart.

:class:`ChampionWatcher` reads the model registry's ``stat`` on every request (about a
microsecond); when the file changed and names another champion, that version's files are
verified against their registered sha256 and only then loaded. A champion that fails its check,
or that the service cannot load (a Spark ML model), is never served: the service answers 503 until
the registry names one it can serve, rather than keep answering with a model the registry no
longer names.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from platform_assets.lib.ml.model_store import REGISTRY_FILE, SPARK_FORMAT, ModelIntegrityError, ModelStore
from platform_assets.lib.ml.scoring import Scorer, load_scorer

log = logging.getLogger(__name__)


class ChampionUnavailable(RuntimeError):
    """No champion, or one whose files fail their hash, or one this service cannot load."""


class PinnedVersions:
    """Scorers of named versions, each verified against the registry once, then kept."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._loaded: dict[str, Scorer | str] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> Scorer | None:
        """The verified scorer of ``version``, or None when it cannot be served (see :meth:`problem`)."""
        loaded = self._loaded.get(version)
        if loaded is None:
            with self._lock:
                loaded = self._loaded.get(version)
                if loaded is None:
                    loaded = self._load(version)
                    self._loaded[version] = loaded
        return loaded if isinstance(loaded, Scorer) else None

    def problem(self, version: str) -> str | None:
        loaded = self._loaded.get(version)
        return loaded if isinstance(loaded, str) else None

    def _load(self, version: str) -> Scorer | str:
        try:
            if self.store.get(version).format == SPARK_FORMAT:
                return f"{version} is a Spark ML model; only scikit-learn ones are served"
            self.store.verify(version)  # model, reference and card against the registry
            return load_scorer(self.store, version)  # hashes the bytes it loads
        except (ModelIntegrityError, OSError, ValueError, KeyError) as error:
            problem = f"{version}: {type(error).__name__}: {error}"
            log.error("not serving %s", problem)
            return problem


class ChampionWatcher:
    """The registry's champion, loaded and verified, reloaded when the registry changes."""

    def __init__(self, models_dir: Path) -> None:
        self.store = ModelStore(models_dir)
        self.pinned = PinnedVersions(self.store)  # each version verified and loaded once
        self._scorer: Scorer | None = None
        self._seen: tuple[int, int] | None = None
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
        if stamp != self._seen:
            with self._lock:
                if stamp != self._seen:
                    self._reload(stamp)
        if self._scorer is None:
            raise ChampionUnavailable(self._error or "no champion loaded")
        return self._scorer

    def _reload(self, stamp: tuple[int, int] | None) -> None:
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
