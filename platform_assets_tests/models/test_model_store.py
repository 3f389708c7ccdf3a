"""``lib/model_store.py``: versions, sha256 registry, trusted skops loading."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from platform_assets.lib.model_store import ModelIntegrityError, ModelStore
from platform_assets.lib.training import (
    FEATURE_SPEC,
    build_pipeline,
    code_version,
    prepare_features,
    train_model,
)


def _frame(rows: int, seed: int) -> pd.DataFrame:
    """Random rows with every feature column and a label that depends on two of them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {c: rng.choice(["a", "b", "c", None], rows) for c in FEATURE_SPEC.categorical}
        | {c: rng.normal(size=rows) for c in FEATURE_SPEC.numeric}
    )
    signal = frame["prior_conversions_28d"] + (frame["device"] == "a")
    return frame.assign(label=(signal + rng.normal(size=rows) > 0.5).astype(int))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _frame(600, seed=1)


@pytest.fixture(scope="module", params=["hgb", "logreg"])
def pipeline(request: pytest.FixtureRequest, data: pd.DataFrame) -> Pipeline:
    return build_pipeline(request.param).fit(prepare_features(data), data["label"])


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def _save(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame):
    info = {"params": {"kind": "test"}, "training_data": {"rows": len(data)}, "run_id": "r1"}
    return store.save(pipeline, {"roc_auc": 0.75}, data.head(100), info)


def test_round_trip_predicts_identically(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame) -> None:
    saved = _save(store, pipeline, data)
    assert saved.version == "v0001"
    assert saved.sha256 == hashlib.sha256(saved.model_path.read_bytes()).hexdigest()
    loaded = store.load("v0001")
    x = prepare_features(_frame(200, seed=2))
    np.testing.assert_array_equal(loaded.predict_proba(x), pipeline.predict_proba(x))
    pd.testing.assert_frame_equal(store.reference("v0001"), data.head(100).reset_index(drop=True))

    card = json.loads(saved.card_path.read_text())
    assert card == store.card("v0001")
    assert card["metrics"] == {"roc_auc": 0.75}
    assert card["params"] == {"kind": "test"}
    assert card["training_data"] == {"rows": 600}
    assert card["extra"] == {"run_id": "r1"}
    assert card["model_sha256"] == saved.sha256
    assert card["created_at"] == saved.created_at
    registry = json.loads((store.root / "registry.json").read_text())
    assert [(e["version"], e["sha256"]) for e in registry["versions"]] == [("v0001", saved.sha256)]


def test_versions_increment(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame) -> None:
    assert store.latest() is None
    assert store.versions() == []
    saved = [_save(store, pipeline, data) for _ in range(3)]
    assert [v.version for v in saved] == ["v0001", "v0002", "v0003"]
    assert store.versions() == saved
    assert store.latest() == saved[-1]
    leftovers = {p.name for p in store.root.iterdir()} - {"v0001", "v0002", "v0003"}
    assert leftovers <= {"registry.json", ".lock"}  # no temporary files or folders left


def test_altered_model_is_refused(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame) -> None:
    saved = _save(store, pipeline, data)
    content = bytearray(saved.model_path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    saved.model_path.write_bytes(bytes(content))
    with pytest.raises(ModelIntegrityError, match="does not match its registered sha256"):
        store.load(saved.version)


def test_altered_reference_is_refused(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame) -> None:
    saved = _save(store, pipeline, data)
    data.tail(5).to_parquet(saved.reference_path)
    with pytest.raises(ModelIntegrityError, match="does not match"):
        store.reference(saved.version)


def test_missing_file_or_entry_is_refused(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame) -> None:
    saved = _save(store, pipeline, data)
    with pytest.raises(ModelIntegrityError, match="v0002 is not in the registry"):
        store.load("v0002")
    saved.model_path.unlink()
    with pytest.raises(ModelIntegrityError, match=r"model\.skops is missing"):
        store.load(saved.version)


def test_version_numbers_are_never_reused(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame) -> None:
    _save(store, pipeline, data)
    (store.root / "registry.json").unlink()  # registry lost, folder still there
    assert _save(store, pipeline, data).version == "v0002"


@pytest.mark.parametrize(
    "version",
    ["../x", "v0001/../../x", "v1", "v0001\n", "V0001", "/etc/passwd", "v\u0660\u0660\u0660\u0661"],
)
def test_crafted_version_is_rejected(store: ModelStore, version: str) -> None:
    for method in (store.load, store.reference, store.get, store.card):
        with pytest.raises(ValueError, match="invalid model version"):
            method(version)


def test_types_outside_the_pinned_list_are_not_loaded(store: ModelStore, data: pd.DataFrame) -> None:
    # A project function is no type the pinned trust list names, so loading it is refused.
    step = FunctionTransformer(prepare_features)
    odd = Pipeline([("prepare", step), ("model", build_pipeline("logreg"))])
    saved = _save(store, odd, data)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        store.load(saved.version)


def test_saves_a_training_result(store: ModelStore, data: pd.DataFrame) -> None:
    days = pd.date_range("2026-03-01", periods=4).date
    features = data.assign(event_date=np.resize(days, len(data)))
    result = train_model(features, kind="logreg", holdout_days=1, reference_rows=50)
    saved = store.save(result.pipeline, result.metrics, result.reference, result.info())
    card = store.card(saved.version)
    assert card["code_version"] == code_version()
    assert card["training_data"] == result.split.as_dict()
    assert card["metrics"]["beats_baseline"] == result.metrics["beats_baseline"]
    pd.testing.assert_frame_equal(store.reference(saved.version), result.reference)


def test_a_rejected_version_is_kept_on_record_but_is_never_latest(tmp_path):
    from sklearn.dummy import DummyClassifier

    from platform_assets.lib.model_store import ModelStore

    store = ModelStore(tmp_path / "models")
    reference = pd.DataFrame({"x": [1.0, 2.0]})
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    good = store.save(model, {"auc": 0.7}, reference, {}, accepted=True)
    rejected = store.save(model, {"auc": 0.5}, reference, {}, accepted=False)
    assert [v.version for v in store.versions()] == [good.version, rejected.version]
    assert store.latest().version == good.version
    assert store.latest(accepted_only=False).version == rejected.version
