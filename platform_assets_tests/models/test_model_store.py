"""``lib/ml/model_store.py``: versions, sha256 registry, trusted skops loading."""

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

from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore
from platform_assets.lib.ml.training import (
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

    from platform_assets.lib.ml.model_store import ModelStore

    store = ModelStore(tmp_path / "models")
    reference = pd.DataFrame({"x": [1.0, 2.0]})
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    good = store.save(model, {"auc": 0.7}, reference, {}, accepted=True)
    rejected = store.save(model, {"auc": 0.5}, reference, {}, accepted=False)
    assert [v.version for v in store.versions()] == [good.version, rejected.version]
    assert store.latest().version == good.version
    assert store.latest(accepted_only=False).version == rejected.version


# -- champion, decisions, rollback ------------------------------------------------------------


def _two_versions(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame):
    return _save(store, pipeline, data), _save(store, pipeline, data)


def test_no_champion_until_one_is_set_then_every_move_is_recorded(
    store: ModelStore, pipeline: Pipeline, data: pd.DataFrame
) -> None:
    first, second = _two_versions(store, pipeline, data)
    assert store.champion() is None and store.decisions() == []
    store.set_champion(first.version, {"action": "promote", "reason": "first"})
    store.record_decision({"action": "keep", "challenger": second.version, "reason": "not better"})
    store.set_champion(second.version, {"action": "manual", "reason": "by hand"})
    assert store.champion().version == second.version
    history = [(d["action"], d["champion"], d.get("previous_champion")) for d in store.decisions()]
    assert history == [
        ("promote", first.version, None),
        ("keep", first.version, None),  # the champion at the time is recorded; it did not move
        ("manual", second.version, first.version),
    ]
    assert store.previous_champion() == first.version
    registry = json.loads((store.root / "registry.json").read_text())
    assert registry["champion"] == second.version and registry["format"] == 2


def test_an_altered_or_missing_version_cannot_become_champion(
    store: ModelStore, pipeline: Pipeline, data: pd.DataFrame
) -> None:
    first, second = _two_versions(store, pipeline, data)
    store.set_champion(first.version, {"action": "promote", "reason": "first"})
    second.model_path.write_bytes(second.model_path.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="does not match its registered sha256"):
        store.set_champion(second.version, {"action": "manual", "reason": "x"})
    second.reference_path.unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        store.verify(second.version)
    assert store.champion().version == first.version and len(store.decisions()) == 1


def test_saving_a_version_keeps_the_champion_and_the_decisions(
    store: ModelStore, pipeline: Pipeline, data: pd.DataFrame
) -> None:
    first = _save(store, pipeline, data)
    store.set_champion(first.version, {"action": "promote", "reason": "first"})
    later = store.save(pipeline, {}, data.head(10), {}, summary={"family": "logreg", "roc_auc": 0.7})
    assert store.champion().version == first.version and len(store.decisions()) == 1
    assert store.entry(later.version)["family"] == "logreg" and store.entry(later.version)["roc_auc"] == 0.7


def test_summaries_and_annotations_cannot_overwrite_the_registry_fields(
    store: ModelStore, pipeline: Pipeline, data: pd.DataFrame
) -> None:
    first = _save(store, pipeline, data)
    for field in ("sha256", "accepted", "version"):
        with pytest.raises(ValueError, match=field):
            store.annotate(first.version, **{field: "x"})
    with pytest.raises(ValueError, match="sha256"):
        store.save(pipeline, {}, data.head(10), {}, summary={"sha256": "0" * 64})
    assert [v.version for v in store.versions()] == [first.version]  # the refused save left nothing
    store.annotate(first.version, decision={"action": "keep"})
    assert store.entry(first.version)["decision"] == {"action": "keep"}
    assert store.entry(first.version)["sha256"] == first.sha256


def test_a_format_1_registry_reads_as_no_champion(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame):
    first = _save(store, pipeline, data)
    registry = json.loads((store.root / "registry.json").read_text())
    legacy = {"format": 1, "versions": registry["versions"]}
    (store.root / "registry.json").write_text(json.dumps(legacy))
    assert store.champion() is None and store.decisions() == []
    assert store.latest().version == first.version


def test_a_crafted_champion_pointer_is_refused(store: ModelStore, pipeline: Pipeline, data: pd.DataFrame):
    _save(store, pipeline, data)
    registry = json.loads((store.root / "registry.json").read_text())
    (store.root / "registry.json").write_text(json.dumps({**registry, "champion": "../../etc"}))
    with pytest.raises(ValueError, match="invalid model version"):
        store.champion()
