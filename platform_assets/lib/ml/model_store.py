"""Versioned model storage: skops files checked against a sha256 registry before loading.

Layout under ``root``::

    registry.json             {"versions": [{"version": "v0001", "sha256": ..., ...}, ...],
                               "champion": "v0001",  the version predictions and monitoring use
                               "decisions": [...]}   every promotion, rollback and kept champion
    v0001/model.skops         the fitted pipeline (skops, never pickle)
    v0002/spark_model/        or a Spark ML PipelineModel saved by Spark itself (format "spark-ml":
                              its sha256 is over every file's relative path and bytes)
    v0001/reference.parquet   sample of the training features, for drift monitoring
    v0001/card.json           metrics, params, training data, code version, created_at

A version directory is written under a temporary name and renamed into place; the registry is
rewritten through a temporary file and ``os.replace`` (``lib/atomic.py``), every read-modify-write
under an exclusive ``flock`` on ``.lock``, so concurrent writers (processes) never lose each other's
entries. What a killed save leaves (a ``.vNNNN-*`` staging folder, a ``.registry.json.*.tmp``, a
version folder the registry never took) is removed by the next save that registers. The champion moves to
a version whose files match their registered sha256 (:meth:`ModelStore.set_champion`), and every
move is appended to ``decisions`` with who/why, so a rollback is a move back to an earlier version.
No Dagster here.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from platform_assets.lib.atomic import atomic_write_bytes, remove_abandoned, staging_dir

if TYPE_CHECKING:  # scikit-learn and skops take seconds to import: only where a model is used
    from pyspark.ml import PipelineModel
    from sklearn.pipeline import Pipeline

MODEL_FILE = "model.skops"
SPARK_MODEL_DIR = "spark_model"
SKOPS_FORMAT = "skops"
SPARK_FORMAT = "spark-ml"
REFERENCE_FILE = "reference.parquet"
CARD_FILE = "card.json"
REGISTRY_FILE = "registry.json"
REGISTRY_FORMAT = 2  # 2 added "champion" and "decisions"; a format-1 file reads as no champion
VERSION_PATTERN = re.compile(r"^v\d{4,}$", re.ASCII)  # ASCII: no other digits

# Types skops does not trust by default that the scikit-learn pipelines contain (checked
# with skops.io.get_untrusted_types on both kinds). Pinned here on purpose: a file that needs any
# other type is refused instead of being trusted blindly.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "platform_assets.lib.ml.features.log1p_nonnegative",  # FunctionTransformer on count features
    "pandas._libs.missing.NAType",  # SimpleImputer(missing_values=pd.NA) for categories
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


# Functions that moved since models were saved, old dotted name -> new. A skops file names each
# function it holds by module path; after the file's sha256 is verified, these names are read as
# their new ones (never anything else), so models registered before a move still load.
MOVED_TYPES: dict[str, str] = {
    "platform_assets.lib.training.log1p_nonnegative": "platform_assets.lib.ml.features.log1p_nonnegative",
    "platform_assets.lib.ml.training.log1p_nonnegative": "platform_assets.lib.ml.features.log1p_nonnegative",
}


class ModelIntegrityError(RuntimeError):
    """A model's file or registry entry is missing, or its bytes are not what was registered."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered model and where its files are."""

    version: str
    directory: Path
    sha256: str
    created_at: str
    accepted: bool = True
    format: str = SKOPS_FORMAT  # or SPARK_FORMAT: load with ModelStore.load_spark

    @property
    def model_path(self) -> Path:
        """The skops file, or the Spark ML model directory of a "spark-ml" version."""
        return self.directory / (SPARK_MODEL_DIR if self.format == SPARK_FORMAT else MODEL_FILE)

    @property
    def reference_path(self) -> Path:
        return self.directory / REFERENCE_FILE

    @property
    def card_path(self) -> Path:
        return self.directory / CARD_FILE


def validate_version(version: str) -> str:
    """Return ``version`` if it looks like ``v0001``; raise ValueError before it becomes a path."""
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise ValueError(f"invalid model version {version!r}; expected v followed by 4+ digits")
    return version


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_tree(root: Path) -> str:
    """sha256 over every file under ``root`` (relative POSIX path, size and bytes, in path order):
    a renamed, added, removed or changed file changes it. Symlinks are refused."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        if path.is_symlink():
            raise ModelIntegrityError(f"{path} is a symbolic link; a saved model holds none")
        if path.is_file():
            data = path.read_bytes()
            name = path.relative_to(root).as_posix().encode("utf-8")
            digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


class ModelStore:
    """Save, list and load model versions under one root folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- reading -----------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        """Registered versions, oldest first."""
        return [self._version(entry) for entry in self._entries()]

    def latest(self, accepted_only: bool = True) -> ModelVersion | None:
        """The newest registered version (by default the newest that passed its acceptance
        checks, e.g. beating the baseline), or None."""
        versions = [v for v in self.versions() if v.accepted or not accepted_only]
        return versions[-1] if versions else None

    def champion(self) -> ModelVersion | None:
        """The version predictions and monitoring use (None before the first promotion)."""
        name = self._registry().get("champion")
        return self.get(name) if name else None

    def decisions(self) -> list[dict[str, Any]]:
        """Every recorded promotion decision, oldest first (promotions, kept champions, rollbacks)."""
        return list(self._registry().get("decisions", []))

    def entry(self, version: str) -> dict[str, Any]:
        """A copy of the registry entry of ``version`` (hashes, acceptance, summary metrics)."""
        return dict(self._entry(version))

    def verify(self, version: str) -> ModelVersion:
        """Check every file of ``version`` against the registry (model, reference, card); raise
        ModelIntegrityError naming the first file that is missing or altered."""
        entry = self._entry(version)
        if entry.get("format", SKOPS_FORMAT) == SPARK_FORMAT:
            source = self.root / version / SPARK_MODEL_DIR
            if not source.is_dir():
                raise ModelIntegrityError(f"model {version}: {source} is missing")
            if sha256_of_tree(source) != entry.get("sha256"):
                raise ModelIntegrityError(f"model {version}: {source} does not match its registered sha256")
        else:
            self._verified_bytes(entry, MODEL_FILE, "sha256")
        self._verified_bytes(entry, REFERENCE_FILE, "reference_sha256")
        self._verified_bytes(entry, CARD_FILE, "card_sha256")
        return self._version(entry)

    def get(self, version: str) -> ModelVersion:
        """The registry entry of ``version``; ModelIntegrityError when it is not registered."""
        return self._version(self._entry(version))

    def load(self, version: str) -> Pipeline:
        """Deserialise a model after checking its bytes against the registered sha256.

        The bytes that were hashed are the bytes deserialised, so the file cannot change between
        the check and the load.
        """
        entry = self._entry(version)
        if entry.get("format", SKOPS_FORMAT) != SKOPS_FORMAT:
            raise ModelIntegrityError(
                f"model {version} is a {entry['format']} model: load it with load_spark(version)"
            )
        data = self._verified_bytes(entry, MODEL_FILE, "sha256")
        import skops.io as sio
        from sklearn.pipeline import Pipeline

        pipeline = sio.loads(_with_moved_types(data), trusted=list(TRUSTED_TYPES))
        if not isinstance(pipeline, Pipeline):
            raise ModelIntegrityError(f"model {version} holds a {type(pipeline).__name__}")
        return pipeline

    def load_spark(self, version: str, scratch: Path | str | None = None) -> PipelineModel:
        """Load a "spark-ml" version: its directory is copied to a private folder under
        ``scratch``, the copy is hashed and checked against the registry, and Spark loads that
        copy, so the files cannot change between the check and the load. Spark's own format: no
        pickle.

        Some stages (the Imputer's medians) are read lazily by Spark, so the verified copy stays
        while the model is in use; it is a dot-folder under ``scratch`` (default
        ``<root>/.loaded``), safe to delete once no process uses the model. Needs an active
        SparkSession (a local master reads the local path; on a cluster, ``scratch`` must be a
        folder every executor can read).
        """
        entry = self._entry(version)
        if entry.get("format", SKOPS_FORMAT) != SPARK_FORMAT:
            raise ModelIntegrityError(f"model {version} is not a {SPARK_FORMAT} model: load it with load()")
        source = self.root / version / SPARK_MODEL_DIR
        if not source.is_dir():
            raise ModelIntegrityError(f"model {version}: {source} is missing")
        parent = Path(scratch) if scratch else self.root / ".loaded"
        parent.mkdir(parents=True, exist_ok=True)
        copy = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=parent)) / SPARK_MODEL_DIR
        shutil.copytree(source, copy, symlinks=True)
        if sha256_of_tree(copy) != entry.get("sha256"):
            shutil.rmtree(copy.parent, ignore_errors=True)
            raise ModelIntegrityError(f"model {version}: {source} does not match its registered sha256")
        from pyspark.ml import PipelineModel

        return PipelineModel.load(str(copy))

    def reference(self, version: str) -> pd.DataFrame:
        """The training reference sample saved with ``version`` (checked against the registry)."""
        data = self._verified_bytes(self._entry(version), REFERENCE_FILE, "reference_sha256")
        return pd.read_parquet(io.BytesIO(data))

    def card(self, version: str) -> dict[str, Any]:
        """The model card of ``version``."""
        return json.loads(self._verified_bytes(self._entry(version), CARD_FILE, "card_sha256"))

    # -- writing -----------------------------------------------------------------------------
    def save(
        self,
        pipeline: Pipeline,
        metrics: dict[str, Any],
        reference: pd.DataFrame,
        info: dict[str, Any],
        accepted: bool = True,
        summary: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Write a new version (model, reference sample, card) and register it; a version that
        failed its acceptance checks is kept on record but not returned by :meth:`latest`.
        ``summary`` (family, headline metrics, training window...) is copied into the registry
        entry so a listing needs no card."""
        import skops.io as sio

        model_bytes = sio.dumps(pipeline)

        def write_model(staging: Path) -> str:
            (staging / MODEL_FILE).write_bytes(model_bytes)
            return sha256_of(model_bytes)

        return self._save(write_model, SKOPS_FORMAT, metrics, reference, info, accepted, summary)

    def save_spark(
        self,
        model: PipelineModel,
        metrics: dict[str, Any],
        reference: pd.DataFrame,
        info: dict[str, Any],
        accepted: bool = True,
        summary: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Like :meth:`save`, for a Spark ML PipelineModel: written by ``model.write()`` into the
        version's ``spark_model/`` folder, registered with the sha256 of that folder's files
        (:func:`sha256_of_tree`). The model store must be a path the Spark driver writes locally
        (a local master); ``load_spark`` reads it back."""

        def write_model(staging: Path) -> str:
            target = staging / SPARK_MODEL_DIR
            model.write().overwrite().save(str(target))
            return sha256_of_tree(target)

        return self._save(write_model, SPARK_FORMAT, metrics, reference, info, accepted, summary)

    def _save(
        self,
        write_model: Any,
        model_format: str,
        metrics: dict[str, Any],
        reference: pd.DataFrame,
        info: dict[str, Any],
        accepted: bool,
        summary: dict[str, Any] | None,
    ) -> ModelVersion:
        clash = _ENTRY_KEYS & (summary or {}).keys()
        if clash:
            raise ValueError(f"summary fields {sorted(clash)} would overwrite the registry's own")
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            registry = self._registry()
            entries = self._entries()
            version = self._next_version(entries)
            remove_abandoned(self.root, ".v[0-9]*-*")  # staging folders of killed saves
            created_at = _now()
            with staging_dir(self.root, prefix=version) as staging:
                model_sha256 = write_model(staging)
                card = {
                    "version": version,
                    "created_at": created_at,
                    "model_format": model_format,
                    "model_sha256": model_sha256,
                    "code_version": info.get("code_version"),
                    "params": info.get("params", {}),
                    "training_data": info.get("training_data", {}),
                    "reference_rows": len(reference),
                    "metrics": metrics,
                    "extra": {k: v for k, v in info.items() if k not in _CARD_KEYS},
                }
                card_bytes = _json_bytes(card)
                reference.to_parquet(staging / REFERENCE_FILE, index=False)
                (staging / CARD_FILE).write_bytes(card_bytes)
                reference_bytes = (staging / REFERENCE_FILE).read_bytes()
                # atomic; the number is new (see _next_version), so nothing is overwritten
                os.rename(staging, self.root / version)
            entry = {
                "version": version,
                "created_at": created_at,
                "sha256": model_sha256,
                "reference_sha256": sha256_of(reference_bytes),
                "card_sha256": sha256_of(card_bytes),
                "accepted": bool(accepted),
            }
            if model_format != SKOPS_FORMAT:
                entry["format"] = model_format
            entry.update(json.loads(_json_bytes(summary or {})))
            registry["versions"] = [*entries, entry]
            self._write_registry(registry)
            self._remove_unregistered(entries, version)
        return self._version(entry)

    def set_champion(self, version: str, decision: dict[str, Any]) -> dict[str, Any]:
        """Make ``version`` the champion after verifying its files; append ``decision`` (with
        ``previous_champion``, ``champion`` and a timestamp) to the decisions and return it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            registry = self._registry()
            self.verify(version)
            record = {
                **decision,
                "at": _now(),
                "previous_champion": registry.get("champion"),
                "champion": version,
            }
            registry["champion"] = version
            registry["decisions"] = [*registry.get("decisions", []), record]
            self._write_registry(registry)
        return record

    def record_decision(self, decision: dict[str, Any]) -> dict[str, Any]:
        """Append a decision that leaves the champion where it is (e.g. a challenger kept out)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            registry = self._registry()
            record = {**decision, "at": _now(), "champion": registry.get("champion")}
            registry["decisions"] = [*registry.get("decisions", []), record]
            self._write_registry(registry)
        return record

    def annotate(self, version: str, /, **fields: Any) -> None:
        """Add summary fields to a version's registry entry (never its hashes or acceptance)."""
        if _ENTRY_KEYS & fields.keys():
            raise ValueError(f"registry fields {sorted(_ENTRY_KEYS & fields.keys())} cannot be changed")
        with self._lock():
            registry = self._registry()
            entries = registry.get("versions", [])
            matches = [e for e in entries if e.get("version") == validate_version(version)]
            if not matches:
                raise ModelIntegrityError(f"model {version} is not in the registry {self._registry_path}")
            matches[0].update(json.loads(_json_bytes(fields)))
            self._write_registry(registry)

    def previous_champion(self) -> str | None:
        """The champion before the current one (what a rollback returns to), or None."""
        current = self._registry().get("champion")
        for record in reversed(self.decisions()):
            if record.get("champion") == current and record.get("previous_champion") not in (None, current):
                return record["previous_champion"]
        return None

    # -- internals ---------------------------------------------------------------------------
    @property
    def _registry_path(self) -> Path:
        return self.root / REGISTRY_FILE

    def _registry(self) -> dict[str, Any]:
        """The whole registry document (versions, champion, decisions); empty before any save."""
        if not self._registry_path.exists():
            return {"format": REGISTRY_FORMAT, "versions": [], "decisions": []}
        registry = json.loads(self._registry_path.read_text("utf-8"))
        if not isinstance(registry, dict) or not isinstance(registry.get("versions", []), list):
            raise ModelIntegrityError(f"{self._registry_path} is not a model registry")
        champion = registry.get("champion")
        if champion is not None:
            validate_version(champion)
        return registry

    def _entries(self) -> list[dict[str, Any]]:
        entries = self._registry().get("versions", [])
        for entry in entries:
            validate_version(entry["version"])
        return sorted(entries, key=lambda e: int(e["version"][1:]))

    def _entry(self, version: str) -> dict[str, Any]:
        validate_version(version)
        for entry in self._entries():
            if entry["version"] == version:
                return entry
        raise ModelIntegrityError(f"model {version} is not in the registry {self._registry_path}")

    def _version(self, entry: dict[str, Any]) -> ModelVersion:
        return ModelVersion(
            version=entry["version"],
            directory=self.root / entry["version"],
            sha256=entry["sha256"],
            created_at=entry["created_at"],
            accepted=bool(entry.get("accepted", True)),
            format=entry.get("format", SKOPS_FORMAT),
        )

    def _next_version(self, entries: list[dict[str, Any]]) -> str:
        """One above every version seen in the registry or on disk, so numbers never repeat."""
        on_disk = [p.name for p in self.root.iterdir() if VERSION_PATTERN.fullmatch(p.name)]
        numbers = [int(v[1:]) for v in on_disk + [e["version"] for e in entries]]
        return f"v{max(numbers, default=0) + 1:04d}"

    def _remove_unregistered(self, before: list[dict[str, Any]], version: str) -> list[Path]:
        """Delete the version folders that killed saves renamed into place but never registered:
        numbered above every version registered before this save and below ``version``, which is
        now registered, so their numbers can never be given again. Called under the lock."""
        newest = max((int(e["version"][1:]) for e in before), default=0)
        removed = []
        for path in self.root.iterdir():
            if (
                VERSION_PATTERN.fullmatch(path.name)
                and newest < int(path.name[1:]) < int(version[1:])
                and path.is_dir()
                and not path.is_symlink()
            ):
                shutil.rmtree(path)
                removed.append(path)
        return removed

    def _verified_bytes(self, entry: dict[str, Any], name: str, hash_key: str) -> bytes:
        path = self.root / entry["version"] / name
        if not path.is_file():
            raise ModelIntegrityError(f"model {entry['version']}: {path} is missing")
        data = path.read_bytes()
        expected = entry.get(hash_key)
        if not expected or sha256_of(data) != expected:
            raise ModelIntegrityError(
                f"model {entry['version']}: {path} does not match its registered sha256"
            )
        return data

    def _write_registry(self, registry: dict[str, Any]) -> None:
        atomic_write_bytes(self._registry_path, _json_bytes({**registry, "format": REGISTRY_FORMAT}))

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise writers (parallel Dagster steps) on a lock file in the root."""
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


_CARD_KEYS = {"code_version", "params", "training_data"}
# What the store itself writes into a registry entry: never set from outside.
_ENTRY_KEYS = {"version", "created_at", "sha256", "reference_sha256", "card_sha256", "accepted", "format"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable: {value!r}")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=_json_default).encode("utf-8")


def _with_moved_types(data: bytes) -> bytes:
    """The skops archive with each function of :data:`MOVED_TYPES` named by its new module path
    (the same bytes when it names none)."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        moved = 0

        def rename(node: Any) -> None:
            nonlocal moved
            if isinstance(node, dict):
                old = f"{node.get('__module__')}.{node.get('__class__')}"
                if old in MOVED_TYPES:
                    module, _, name = MOVED_TYPES[old].rpartition(".")
                    node["__module__"], node["__class__"] = module, name
                    moved += 1
                for value in node.values():
                    rename(value)
            elif isinstance(node, list):
                for value in node:
                    rename(value)

        rename(schema)
        if not moved:
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as copy:
            for item in archive.infolist():
                payload = (
                    json.dumps(schema).encode() if item.filename == "schema.json" else archive.read(item)
                )
                copy.writestr(item, payload)
        return out.getvalue()
