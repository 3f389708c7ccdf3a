"""The served models' array path gives the pipeline's own probabilities, bit for bit, and a model of
another shape is scored by the Scorer itself."""

import numpy as np
import pandas as pd
import pytest

from platform_assets.lib.ml.feature_spec import FEATURE_SPEC
from platform_assets.lib.ml.features import prepare_features
from platform_assets.lib.ml.scoring import Scorer
from platform_assets.lib.ml.sklearn_backend import build_pipeline
from platform_assets.serving.array_scoring import ArrayPipeline, BatchScoring


def _rows(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            c: rng.choice(["desktop", "mobile", "direct", "search", "never seen", None], n)
            for c in FEATURE_SPEC.categorical
        }
        | {c: rng.normal(size=n) * 3 for c in FEATURE_SPEC.numeric}
    )
    frame.loc[rng.random(n) < 0.2, "days_since_prior_session"] = np.nan
    return frame


@pytest.fixture(scope="module", params=["logreg", "hgb"])
def model(request):
    train = _rows(0, 600)
    label = (train["prior_conversions_28d"] + np.random.default_rng(1).normal(size=600) > 0.5).astype(int)
    return build_pipeline(request.param, min_frequency=30).fit(prepare_features(train), label)


@pytest.mark.parametrize("n", [1, 2, 17, 64])
def test_the_array_path_gives_the_pipelines_probabilities_exactly(model, n):
    rows = _rows(n, n)
    path = ArrayPipeline.of(model, FEATURE_SPEC.features)
    assert path is not None
    expected = model.predict_proba(prepare_features(rows))[:, 1]
    assert np.array_equal(path.probabilities(prepare_features(rows)), expected)


def test_a_batch_is_scored_by_each_scorer_on_its_own_rows_as_the_scorer_would(model):
    champion, shadow = Scorer("v1", "skops", model, 0.5), Scorer("v2", "skops", model, 0.5)
    features = _rows(5, 6).drop(index=[2])  # position 2: a bot, no feature row
    scorers = [champion, shadow, champion, champion, None, shadow]
    answered, shadows = BatchScoring().scores(features, scorers, [shadow] * 6)
    assert set(answered) == {0, 1, 3, 5} and set(shadows) == {0, 1, 3, 4, 5}
    # each scorer's rows in one call, as Scorer.probabilities scores them (a pipeline's last bit can
    # depend on how many rows it is given at once: the same rows are compared)
    assert [answered[p] for p in (0, 3)] == list(champion.probabilities(features.loc[[0, 3]]))
    assert [answered[p] for p in (1, 5)] == list(shadow.probabilities(features.loc[[1, 5]]))
    assert [shadows[p] for p in sorted(shadows)] == list(shadow.probabilities(features))


def test_a_model_of_another_shape_has_no_array_path(model):
    from sklearn.pipeline import Pipeline

    assert ArrayPipeline.of(model.steps[-1][1], FEATURE_SPEC.features) is None
    assert ArrayPipeline.of(Pipeline(model.steps[-1:]), FEATURE_SPEC.features) is None
    assert ArrayPipeline.of(model, FEATURE_SPEC.features[1:]) is None  # a column it would not find
