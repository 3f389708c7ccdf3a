"""The registry of model families (``lib/ml/families.py``): a new family is one entry, used by the
search and by a single-family training; unknown names and families Spark cannot fit fail clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from platform_assets.lib.ml import families
from platform_assets.lib.ml.families import ModelFamily, SklearnEstimator
from platform_assets.lib.ml.features import prepare_features
from platform_assets.lib.ml.model_store import ModelStore
from platform_assets.lib.ml.search import search_candidates
from platform_assets.lib.ml.training import build_pipeline, train_model, train_model_spark
from platform_assets_tests.models.test_training import synthetic_features

BUILT_IN = ("logreg", "hgb")


def _naive_bayes(hyperparams: dict[str, Any], seed: int) -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(**hyperparams)


NAIVE_BAYES = ModelFamily(
    name="naive_bayes",
    description="Gaussian naive Bayes: a test family, scikit-learn only",
    sklearn=SklearnEstimator(_naive_bayes, ({"var_smoothing": 1e-9}, {"var_smoothing": 1e-3})),
    spark=None,
)


@pytest.fixture
def third_family() -> Iterator[ModelFamily]:
    families.register(NAIVE_BAYES)
    try:
        yield NAIVE_BAYES
    finally:
        families.unregister(NAIVE_BAYES.name)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return synthetic_features()


def test_the_built_in_families_are_registered_in_search_order() -> None:
    assert tuple(families.FAMILIES) == BUILT_IN
    for family in families.FAMILIES.values():
        assert family.description and family.spark is not None
        assert len(family.candidates()) == len(family.sklearn.grid) == len(family.spark.grid)
    assert [f.name for f in families.resolve("search")] == list(BUILT_IN)


def test_an_unknown_family_fails_clearly_listing_the_known_ones() -> None:
    message = r"unknown model kind 'svm'; expected one of logreg, hgb \(a model family\) or 'search'"
    for call in (
        lambda: families.get("svm"),
        lambda: search_candidates("svm", 3),
        lambda: build_pipeline("svm"),
        lambda: train_model(pd.DataFrame(), kind="svm"),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="'search' is every family, not one"):
        build_pipeline("search")


def test_a_family_is_registered_once_with_aligned_grids() -> None:
    with pytest.raises(ValueError, match="'logreg' is taken"):
        families.register(families.get("logreg"))
    with pytest.raises(ValueError, match="'search' is taken"):
        families.register(ModelFamily("search", "", NAIVE_BAYES.sklearn, None))
    hgb = families.get("hgb")
    misaligned = ModelFamily("odd", "", NAIVE_BAYES.sklearn, hgb.spark)  # 2 points against 4
    with pytest.raises(ValueError, match="must align"):
        families.register(misaligned)
    assert "odd" not in families.FAMILIES


def test_a_registered_family_joins_the_search(third_family: ModelFamily, features: pd.DataFrame) -> None:
    assert [f.name for f in families.resolve("search")] == [*BUILT_IN, "naive_bayes"]
    order = search_candidates("search", 100, seed=0)
    assert [c.family for c in order[:3]] == [*BUILT_IN, "naive_bayes"]  # families take turns
    assert len(order) == 3 + 4 + 2
    for name in BUILT_IN:  # each family keeps its own order (its shuffle is its own)
        assert [c for c in order if c.family == name] == search_candidates(name, 100, seed=0)

    result = train_model(features, holdout_days=3, max_candidates=9)
    assert [r["family"] for r in result.candidates].count("naive_bayes") == 2
    assert result.params["search"]["families"] == [*BUILT_IN, "naive_bayes"]
    assert result.params["search"]["space_size"] == 9
    assert sum(r["chosen"] for r in result.candidates) == 1


def test_a_registered_family_trains_alone(
    third_family: ModelFamily, features: pd.DataFrame, tmp_path: Path
) -> None:
    result = train_model(features, kind="naive_bayes", holdout_days=3)
    assert result.params["kind"] == "naive_bayes" and result.params["trainer"] == "scikit-learn"
    assert [r["hyperparams"] for r in result.candidates] == [
        {"var_smoothing": 1e-9},
        {"var_smoothing": 1e-3},
    ]
    assert type(result.pipeline[-1]).__name__ == "GaussianNB"
    assert result.metrics["model"]["roc_auc"] > 0.6  # the planted signal is found
    # the model store loads it back: skops trusts every type its pipeline holds (TRUSTED_TYPES)
    store = ModelStore(tmp_path / "models")
    saved = store.save(result.pipeline, result.metrics, result.reference, result.info())
    x = prepare_features(features)
    np.testing.assert_array_equal(
        store.load(saved.version).predict_proba(x), result.pipeline.predict_proba(x)
    )


def test_spark_refuses_a_family_it_cannot_fit(third_family: ModelFamily) -> None:
    """Refused before any Spark work (no session needed): by name, clearly; a search on Spark
    tries the families Spark can fit."""
    message = r"model family 'naive_bayes' is not available on Spark ML \(available: logreg, hgb\)"
    with pytest.raises(ValueError, match=message):
        families.resolve("naive_bayes", spark=True)
    with pytest.raises(ValueError, match=message):
        train_model_spark(object(), kind="naive_bayes")
    assert [f.name for f in families.resolve("search", spark=True)] == list(BUILT_IN)
    assert {c.family for c in search_candidates("search", 100, spark=True)} == set(BUILT_IN)
