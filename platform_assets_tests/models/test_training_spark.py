"""The Spark ML backend (``lib/ml/spark_backend.py``) against the scikit-learn one on the same synthetic
features: same split, similar metrics, same refusals; Spark models in the model store; the asset's
Spark path and the trainer choice."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from platform_assets.layers.models.assets import choose_trainer
from platform_assets.lib.ml.families import search_space
from platform_assets.lib.ml.model_store import ModelIntegrityError, ModelStore
from platform_assets.lib.ml.search import search_candidates
from platform_assets.lib.ml.training import TrainingDataError, train_model, train_model_spark
from platform_assets.resources import build_engine
from platform_assets.settings import PlatformSettings
from platform_assets_tests.models.test_training import (
    _no_positive_in_early_days,
    _no_positive_in_last_days,
    _single_day,
    synthetic_features,
)

spark_only = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("test_training_spark")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")  # pandas -> JVM without workers
        .config("spark.pyspark.python", sys.executable)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return synthetic_features()


@pytest.fixture(scope="module")
def both(spark, features: pd.DataFrame):
    """scikit-learn and Spark ML logistic regressions on the same rows (each searches the C grid)."""
    spark_ml = train_model_spark(spark.createDataFrame(features), kind="logreg")
    return train_model(features, kind="logreg"), spark_ml


def _keys(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        return {k for key, inner in value.items() for k in _keys(inner, f"{prefix}{key}.")} | {prefix}
    return {prefix}


@spark_only
def test_both_trainers_get_the_same_time_split(both) -> None:
    sklearn, spark_ml = both
    assert spark_ml.split == sklearn.split
    assert spark_ml.metrics["split"] == sklearn.metrics["split"]
    assert (spark_ml.split.train_days, spark_ml.split.holdout_days) == (9, 3)
    assert spark_ml.metrics["positive_rate_train"] == sklearn.metrics["positive_rate_train"]
    assert spark_ml.metrics["positive_rate_holdout"] == sklearn.metrics["positive_rate_holdout"]


@spark_only
def test_both_trainers_score_alike_and_beat_the_baseline(both) -> None:
    sklearn, spark_ml = both
    print(
        f"\nROC AUC scikit-learn {sklearn.metrics['model']['roc_auc']:.4f}, "
        f"Spark ML {spark_ml.metrics['model']['roc_auc']:.4f}"
    )
    assert _keys(spark_ml.metrics) == _keys(sklearn.metrics)
    assert spark_ml.metrics["model"]["roc_auc"] == pytest.approx(
        sklearn.metrics["model"]["roc_auc"], abs=0.03
    )
    assert spark_ml.metrics["model"]["log_loss"] == pytest.approx(
        sklearn.metrics["model"]["log_loss"], abs=0.02
    )
    for result in both:
        assert result.metrics["beats_baseline"] is True
        assert result.metrics["model"]["roc_auc"] > 0.65
        for threshold in ("at_0_5", "at_train_best_f1"):
            cells = [result.metrics["model"][threshold][k] for k in ("tn", "fp", "fn", "tp")]
            assert sum(cells) == result.split.holdout_rows
    # the prior-only baseline is the same on both sides
    for key in ("roc_auc", "log_loss", "brier"):
        assert spark_ml.metrics["baseline"][key] == pytest.approx(sklearn.metrics["baseline"][key])
    json.dumps(spark_ml.metrics)
    assert spark_ml.params["trainer"] == "spark-ml" and sklearn.params["trainer"] == "scikit-learn"
    assert type(spark_ml.pipeline.stages[-1]).__name__ == "LogisticRegressionModel"


def _chosen(result) -> dict:
    (chosen,) = [r for r in result.candidates if r["chosen"]]
    return chosen


def _best(records: list[dict]) -> dict:
    """Recomputed from the records: best validation log loss, then higher AUC, then order."""
    return min(records, key=lambda r: (r["validation_log_loss"], -r["validation_roc_auc"], r["index"]))


@spark_only
def test_both_trainers_search_the_same_grid_on_the_same_validation_days(both) -> None:
    sklearn, spark_ml = both
    for result in both:
        assert [r["hyperparams"] for r in result.candidates] == [{"C": c} for c in (1.0, 0.1, 10.0)]
        assert _chosen(result) == _best(result.candidates) and result.params["kind"] == "logreg"
        assert result.params["search"]["validation_end"] < result.split.holdout_start
    assert [set(r) for r in spark_ml.candidates] == [set(r) for r in sklearn.candidates]
    # same validation days and rows, same settings but the default bound (smaller on Spark)
    differ = {"seconds", "max_candidates"}
    untimed = [{k: v for k, v in r.params["search"].items() if k not in differ} for r in both]
    assert untimed[0] == untimed[1]
    fit_rows = spark_ml.params["search"]["fit_rows"]
    for ours, theirs in zip(spark_ml.candidates, sklearn.candidates, strict=True):
        assert ours["validation_log_loss"] == pytest.approx(theirs["validation_log_loss"], abs=0.01)
        regularisation = 1 / (ours["hyperparams"]["C"] * fit_rows)
        assert ours["estimator_params"] == {"regParam": pytest.approx(regularisation)}
    chosen_c = _chosen(spark_ml)["hyperparams"]["C"]
    assert spark_ml.params["reg_param"] == pytest.approx(1 / (chosen_c * spark_ml.split.train_rows))
    train = spark_ml.metrics["train"]
    assert set(train) == set(sklearn.metrics["train"])
    assert train["rows"] == sklearn.metrics["train"]["rows"] == sklearn.split.train_rows
    assert train["log_loss"] == pytest.approx(sklearn.metrics["train"]["log_loss"], abs=0.02)
    bins = spark_ml.metrics["model"]["calibration"]["bins"]
    assert sum(b["rows"] for b in bins) == spark_ml.split.holdout_rows


@spark_only
def test_spark_search_tries_both_families_within_the_bound(spark, features: pd.DataFrame) -> None:
    """GBT with 10 trees keeps this short; Spark records candidates as scikit-learn does."""
    from platform_assets.lib.ml.spark_backend import SPARK_MAX_CANDIDATES

    result = train_model_spark(spark.createDataFrame(features), max_candidates=2, max_iter=10)
    expected = search_candidates("search", 2, seed=0)
    assert [c.family for c in expected] == ["logreg", "hgb"]
    assert [r["family"] for r in result.candidates] == [c.family for c in expected]
    assert [r["hyperparams"] for r in result.candidates] == [dict(c.spark) for c in expected]
    assert result.candidates[1]["estimator_params"] == dict(search_space()["hgb"][0].spark)
    chosen = _chosen(result)
    assert chosen == _best(result.candidates) and result.params["kind"] == chosen["family"]
    search = result.params["search"]
    assert (search["kind"], search["considered"], search["status"]) == ("search", 2, "searched")
    assert search["validation_end"] == result.split.train_end < result.split.holdout_start
    names = {"logreg": "LogisticRegressionModel", "hgb": "GBTClassificationModel"}
    assert type(result.pipeline.stages[-1]).__name__ == names[chosen["family"]]
    assert all(0.5 < r["validation_roc_auc"] < 1 for r in result.candidates)
    assert sum(len(grid) for grid in search_space().values()) > SPARK_MAX_CANDIDATES
    json.dumps(result.info())  # plain types only


@spark_only
def test_reference_sample_is_the_last_training_week(both) -> None:
    sklearn, spark_ml = both
    assert list(spark_ml.reference.columns) == list(sklearn.reference.columns)
    assert len(spark_ml.reference) == len(sklearn.reference)  # fewer rows than reference_rows
    days = pd.to_datetime(spark_ml.reference["event_date"])
    assert days.max() <= pd.Timestamp(spark_ml.split.train_end)
    assert days.min() >= pd.Timestamp(spark_ml.split.train_end) - pd.Timedelta(days=6)


@spark_only
@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda f: f.head(50), r"too few rows to train: 50 \(minimum 200\)"),
        (_single_day, "at least 2 distinct event_date"),
        (_no_positive_in_last_days, "holdout rows hold a single class"),
        (_no_positive_in_early_days, "training rows hold a single class"),
        (lambda f: f.drop(columns=["device"]), r"missing columns: \['device'\]"),
    ],
    ids=["few-rows", "one-day", "holdout-one-class", "train-one-class", "missing"],
)
def test_bad_training_data_is_refused_by_spark_too(
    spark, features: pd.DataFrame, broken: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    frame = broken(features)
    with pytest.raises(TrainingDataError, match=message):
        train_model(frame, holdout_days=3)
    with pytest.raises(TrainingDataError, match=message):
        train_model_spark(spark.createDataFrame(frame), holdout_days=3)


@spark_only
def test_spark_model_round_trips_through_the_store(
    spark, both, features: pd.DataFrame, tmp_path: Path
) -> None:
    from platform_assets.lib.ml.spark_backend import positive_probability

    _, result = both
    store = ModelStore(tmp_path / "models")
    saved = store.save_spark(result.pipeline, result.metrics, result.reference, result.info())
    assert saved.format == "spark-ml" and saved.model_path.is_dir()
    assert json.loads((store.root / "registry.json").read_text())["versions"][0]["format"] == "spark-ml"
    assert store.card(saved.version)["model_format"] == "spark-ml"
    assert store.latest() == saved

    rows = spark.createDataFrame(features.drop(columns=["label"]).head(200))  # scoring needs no label
    loaded = store.load_spark(saved.version, scratch=tmp_path / "scratch")
    expected = positive_probability(result.pipeline, rows).select("_p1").toPandas()["_p1"]
    again = positive_probability(loaded, rows).select("_p1").toPandas()["_p1"]
    np.testing.assert_allclose(again.to_numpy(), expected.to_numpy())

    with pytest.raises(ModelIntegrityError, match="load it with load_spark"):
        store.load(saved.version)
    metadata = saved.model_path / "metadata"  # Spark writes the pipeline's metadata as a text "table"
    parts = [p for p in metadata.iterdir() if p.name.startswith("part-")]
    parts[0].write_text(parts[0].read_text().replace('"class"', '"klass"'))
    with pytest.raises(ModelIntegrityError, match="does not match its registered sha256"):
        store.load_spark(saved.version, scratch=tmp_path / "scratch")


def test_trainer_choice(tmp_path: Path) -> None:
    """``auto`` is the engine's one rule (``auto_spark_min_rows``, default 2,000,000 rows), unless
    the run gives its own ``spark_min_rows``."""
    engine = build_engine(PlatformSettings(data_dir=tmp_path))
    assert choose_trainer("auto", 1_999_999, engine) == "sklearn"
    assert choose_trainer("auto", 2_000_000, engine) == "spark"
    assert choose_trainer("spark", 10, engine) == "spark"
    assert choose_trainer("sklearn", 10**9, engine) == "sklearn"
    with pytest.raises(dg.Failure, match="expected one of auto, sklearn, spark"):
        choose_trainer("torch", 10, engine)
    assert choose_trainer("auto", 99, engine, spark_min_rows=100) == "sklearn"
    assert choose_trainer("auto", 100, engine, spark_min_rows=100) == "spark"
    assert choose_trainer("auto", 10**9, engine, spark_min_rows=10**10) == "sklearn"
    smaller = build_engine(PlatformSettings(data_dir=tmp_path, auto_spark_min_rows=100))
    assert choose_trainer("auto", 100, smaller) == "spark"
    assert choose_trainer("auto", 99, smaller) == "sklearn"


@spark_only
def test_asset_trains_with_spark_when_the_table_is_large(spark, built_platform, tmp_path: Path) -> None:
    """Last in the module: the engine resource reuses this module's session and stops it."""
    from platform_assets.definitions import build_definitions
    from platform_assets.layers.models.assets import conversion_model

    root = tmp_path / "platform"
    shutil.copytree(built_platform.root, root)
    defs = build_definitions(PlatformSettings(data_dir=root))
    # "auto": the few thousand rows count as large; one family (the Spark search has its own test)
    config = {"min_rows": 100, "spark_min_rows": 100, "kind": "logreg", "max_candidates": 1}
    result = dg.materialize(
        [conversion_model],
        resources={k: defs.resources[k] for k in ("engine", "storage", "quality")},
        run_config={"ops": {"models__conversion_model": {"config": config}}},
        raise_on_error=False,
    )
    assert result.success, result.get_step_failure_events()
    metadata = result.asset_materializations_for_node("models__conversion_model")[0].metadata
    assert metadata["trainer"].value == "spark-ml" and metadata["model_format"].value == "spark-ml"
    assert 0.5 < metadata["roc_auc"].value <= 1.0 and "baseline_log_loss" in metadata
    store = ModelStore(root / "models")
    version = store.get(metadata["model_version"].value)
    assert version.format == "spark-ml" and (version.directory / "spark_model").is_dir()
    assert not list((root / "tmp" / "training").iterdir())  # the Parquet export is removed
