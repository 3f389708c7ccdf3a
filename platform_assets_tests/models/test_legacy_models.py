"""Models registered by an earlier release still verify, load and predict what they did.

``fixtures/legacy_models`` was written by the platform before its modules moved (skops files name
the functions they hold by module path, e.g. the ``log1p`` transformer of count features), with the
probabilities those pipelines gave for 25 sessions recorded beside them at the time.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore
from platform_assets.lib.ml.training import prepare_features

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy_models"


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    shutil.copytree(LEGACY, tmp_path / "models")
    return ModelStore(tmp_path / "models")


@pytest.mark.parametrize("version", ["v0001", "v0002"])
def test_a_model_stored_before_the_move_loads_and_predicts_as_it_did(store: ModelStore, version: str) -> None:
    registered = json.loads((LEGACY / "registry.json").read_text())
    entry = next(e for e in registered["versions"] if e["version"] == version)
    stored = (LEGACY / version / "model.skops").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == entry["sha256"]  # the fixture itself is intact

    store.verify(version)
    pipeline = store.load(version)
    expected = pd.read_csv(LEGACY / "expected_probabilities.csv")
    features = expected.drop(columns=[c for c in expected.columns if c.startswith("proba_")])
    features["event_date"] = pd.to_datetime(features["event_date"]).dt.date
    proba = pipeline.predict_proba(prepare_features(features))[:, 1]
    np.testing.assert_allclose(proba, expected[f"proba_{version}"], rtol=0, atol=1e-12)


def test_the_fixture_names_the_functions_by_their_old_module_path() -> None:
    with zipfile.ZipFile(LEGACY / "v0001" / "model.skops") as archive:
        schema = archive.read("schema.json").decode()
    assert '"__module__": "platform_assets.lib.training"' in schema  # a module that no longer exists
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("platform_assets.lib.training")


def test_the_stored_champion_is_still_the_champion(store: ModelStore) -> None:
    champion = store.champion()
    assert champion is not None and champion.version == "v0002"


def test_a_stored_model_altered_by_one_byte_is_refused(store: ModelStore) -> None:
    path = store.root / "v0001" / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError):
        store.load("v0001")


def test_promoting_the_champion_again_is_refused_and_records_nothing(store: ModelStore) -> None:
    import dagster as dg

    from platform_assets.layers.models.assets import promote_version

    before = len(store.decisions())
    with pytest.raises(dg.Failure, match="already the champion"):
        promote_version(store, "v0002", reason="again", actor="test")
    assert len(store.decisions()) == before
    decision = promote_version(store, "v0001", reason="back to the older model", actor="test")
    assert (decision["action"], store.champion().version) == ("rollback", "v0001")
    assert len(store.decisions()) == before + 1
