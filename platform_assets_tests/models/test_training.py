"""``lib/ml/training.py`` on synthetic session features with a planted signal."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from platform_assets.lib.ml.training import (
    FEATURE_SPEC,
    TrainingDataError,
    build_pipeline,
    prepare_features,
    train_model,
)


def synthetic_features(rows: int = 2400, days: int = 12, seed: int = 0) -> pd.DataFrame:
    """Session features whose label depends on prior conversions and device (plus noise)."""
    rng = np.random.default_rng(seed)
    device = rng.choice(["desktop", "mobile", "tablet"], rows, p=[0.5, 0.4, 0.1])
    prior_conversions = rng.poisson(0.5, rows)
    prior_sessions = prior_conversions + rng.poisson(2, rows)
    logit = -2.0 + 1.2 * prior_conversions + np.where(device == "desktop", 1.0, 0.0)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    day = pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, days, rows), unit="D")
    return pd.DataFrame(
        {
            "event_date": day.date,
            "device": device,
            "country": rng.choice(["DE", "FR", "US", None], rows),
            "entry_event_type": rng.choice(["landing", "product", "search"], rows),
            "referrer_class": rng.choice(["direct", "search", "social"], rows),
            "hour_of_day": rng.integers(0, 24, rows),
            "day_of_week": rng.integers(1, 8, rows),
            "is_logged_in": rng.integers(0, 2, rows),
            "prior_sessions_28d": prior_sessions,
            "prior_conversions_28d": prior_conversions,
            "prior_page_views_28d": prior_sessions * 3,
            "days_since_prior_session": np.where(prior_sessions > 0, rng.exponential(3.0, rows), np.nan),
            "label": label,
        }
    )


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return synthetic_features()


@pytest.mark.parametrize("kind", ["hgb", "logreg", "search"])
def test_model_beats_baseline_on_later_days(features: pd.DataFrame, kind: str) -> None:
    result = train_model(features, kind=kind)
    family = result.params["kind"]
    assert family == kind or kind == "search"
    model, baseline = result.metrics["model"], result.metrics["baseline"]
    assert model["roc_auc"] > 0.6
    assert model["log_loss"] < baseline["log_loss"]
    assert baseline["roc_auc"] == pytest.approx(0.5)
    assert result.metrics["beats_baseline"] is True
    for threshold in ("at_0_5", "at_train_best_f1"):
        cells = [model[threshold][k] for k in ("tn", "fp", "fn", "tp")]
        assert sum(cells) == result.split.holdout_rows
    assert 0 < model["at_train_best_f1"]["threshold"] < 1
    json.dumps(result.metrics)  # plain types only
    assert (
        type(result.pipeline[-1]).__name__
        == {
            "hgb": "HistGradientBoostingClassifier",
            "logreg": "LogisticRegression",
        }[family]
    )


def test_missing_categories_mean_the_same_whatever_their_spelling(features: pd.DataFrame) -> None:
    pipeline = train_model(features, kind="logreg").pipeline
    raw = features.head(40).assign(device=[None, np.nan, pd.NA, "mobile"] * 10)
    filled = raw.assign(device=["missing", "missing", "missing", "mobile"] * 10)
    expected = pipeline.predict_proba(filled)
    np.testing.assert_allclose(pipeline.predict_proba(raw), expected)
    np.testing.assert_allclose(pipeline.predict_proba(prepare_features(raw)), expected)


def test_split_is_by_time(features: pd.DataFrame) -> None:
    result = train_model(features, kind="logreg", holdout_days=3, reference_rows=500)
    split = result.split
    assert split.train_end < split.holdout_start
    assert (split.train_days, split.holdout_days) == (9, 3)
    dates = pd.to_datetime(features["event_date"])
    train_dates = dates[dates < pd.Timestamp(split.holdout_start)]
    assert split.train_rows == len(train_dates)
    assert split.train_rows + split.holdout_rows == len(features)
    assert result.metrics["split"] == split.as_dict()

    reference = result.reference
    assert len(reference) == 500
    assert set(reference.columns) == set(FEATURE_SPEC.required)
    assert pd.to_datetime(reference["event_date"]).max() <= pd.Timestamp(split.train_end)
    again = train_model(features, kind="logreg", holdout_days=3, reference_rows=500)
    pd.testing.assert_frame_equal(reference, again.reference)


def test_default_holdout_is_about_a_quarter_of_rows(features: pd.DataFrame) -> None:
    split = train_model(features, kind="logreg").split
    assert split.holdout_rows / len(features) == pytest.approx(0.25, abs=0.05)
    assert split.train_end < split.holdout_start


def _single_day(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(event_date=frame["event_date"].iloc[0])


def _no_positive_in_last_days(frame: pd.DataFrame) -> pd.DataFrame:
    late = pd.to_datetime(frame["event_date"]) >= pd.Timestamp("2026-03-10")
    return frame.assign(label=np.where(late, 0, frame["label"]))


def _no_positive_in_early_days(frame: pd.DataFrame) -> pd.DataFrame:
    late = pd.to_datetime(frame["event_date"]) >= pd.Timestamp("2026-03-10")
    return frame.assign(label=np.where(late, frame["label"], 0))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda f: f.head(50), r"too few rows to train: 50 \(minimum 200\)"),
        (_single_day, "at least 2 distinct event_date"),
        (_no_positive_in_last_days, "holdout rows hold a single class"),
        (_no_positive_in_early_days, "training rows hold a single class"),
        (lambda f: f.assign(country=None), r"entirely null: \['country'\]"),
        (lambda f: f.drop(columns=["device", "label"]), r"missing columns: \['device', 'label'\]"),
        (lambda f: f.assign(label=2), "label must be 0 or 1"),
    ],
    ids=[
        "few-rows",
        "one-day",
        "holdout-one-class",
        "train-one-class",
        "null-col",
        "missing",
        "bad-label",
    ],
)
def test_bad_training_data_is_refused(
    features: pd.DataFrame, broken: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(TrainingDataError, match=message):
        train_model(broken(features), kind="logreg", holdout_days=3)


def test_holdout_days_must_leave_training_days(features: pd.DataFrame) -> None:
    with pytest.raises(TrainingDataError, match="at least one day on each side"):
        train_model(features, kind="logreg", holdout_days=12)


def test_min_rows_is_configurable(features: pd.DataFrame) -> None:
    with pytest.raises(TrainingDataError, match="minimum 5000"):
        train_model(features, kind="logreg", min_rows=5000)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown model kind 'svm'"):
        build_pipeline("svm")
