"""The bounded model search (``lib/ml/search.py``, run by ``lib/ml/training.py``): candidates,
selection on a validation period carved from the training days (never the holdout), the records,
train metrics and calibration."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from platform_assets.lib.ml import families
from platform_assets.lib.ml.features import prepare_features
from platform_assets.lib.ml.metrics import calibration_bins, roc_summary, score_probabilities
from platform_assets.lib.ml.search import choose_candidate, search_candidates
from platform_assets.lib.ml.training import build_pipeline, train_model
from platform_assets_tests.models.test_training import synthetic_features

BUILT_IN = ("logreg", "hgb")  # the candidates, order and winners asserted below are theirs
SEARCH_SPACE = {name: families.get(name).candidates() for name in BUILT_IN}
ALL = sum(len(grid) for grid in SEARCH_SPACE.values())
RECORD_KEYS = {
    "index",
    "family",
    "hyperparams",
    "estimator_params",
    "validation_rows",
    "validation_roc_auc",
    "validation_log_loss",
    "validation_brier",
    "fit_seconds",
    "chosen",
}


@pytest.fixture(scope="module", autouse=True)
def built_in_families() -> Iterator[None]:
    """The search over the built-in families only, whatever else is registered."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(families, "FAMILIES", {name: families.FAMILIES[name] for name in BUILT_IN})
        yield


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return synthetic_features()


@pytest.fixture(scope="module")
def searched(features: pd.DataFrame):
    return train_model(features, holdout_days=3)


def _dates(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["event_date"])


def _best(records: list[dict], metric: str = "log_loss") -> dict:
    """The expected choice, recomputed from the records: best metric, then AUC, then order."""
    if metric == "roc_auc":
        return max(records, key=lambda r: (r["validation_roc_auc"], -r["validation_log_loss"], -r["index"]))
    return min(records, key=lambda r: (r[f"validation_{metric}"], -r["validation_roc_auc"], r["index"]))


def _without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "fit_seconds"} for r in records]


def test_candidate_order_is_bounded_deterministic_and_covers_every_family() -> None:
    everything = search_candidates("search", 100, seed=0)
    assert len(everything) == ALL
    assert sorted(map(repr, everything)) == sorted(repr(c) for grid in SEARCH_SPACE.values() for c in grid)
    assert everything[:2] == [SEARCH_SPACE["logreg"][0], SEARCH_SPACE["hgb"][0]]  # former defaults first
    for bound in range(1, ALL + 1):
        chosen = search_candidates("search", bound, seed=3)
        assert chosen == search_candidates("search", ALL, seed=3)[:bound]
        assert {c.family for c in chosen} == ({"logreg"} if bound == 1 else set(SEARCH_SPACE))
    orders = {tuple(map(repr, search_candidates("search", ALL, seed=s))) for s in range(6)}
    assert len(orders) > 1  # the seed reorders the rest of each family's grid
    assert search_candidates("hgb", 2, seed=0) == search_candidates("search", ALL, seed=0)[1:4:2]
    with pytest.raises(ValueError, match="unknown model kind 'svm'"):
        search_candidates("svm", 3)
    with pytest.raises(ValueError, match="max_candidates must be at least 1"):
        search_candidates("search", 0)


def test_search_tries_every_family_and_keeps_the_best_validation_score(searched, features) -> None:
    records, params = searched.candidates, searched.params
    assert len(records) == ALL and {r["family"] for r in records} == set(SEARCH_SPACE)
    assert all(set(r) == RECORD_KEYS for r in records)
    assert [r["index"] for r in records] == list(range(ALL))
    assert sum(r["chosen"] for r in records) == 1
    chosen = next(r for r in records if r["chosen"])
    assert chosen == _best(records)
    assert params["kind"] == chosen["family"] and params["hyperparams"] == chosen["hyperparams"]
    assert (
        type(searched.pipeline[-1]).__name__
        == {
            "logreg": "LogisticRegression",
            "hgb": "HistGradientBoostingClassifier",
        }[chosen["family"]]
    )
    search = params["search"]
    assert search["kind"] == "search" and search["status"] == "searched" and search["reason"] is None
    assert (search["considered"], search["space_size"], search["selection_metric"]) == (ALL, ALL, "log_loss")
    # the validation period is the end of the training days, strictly before the holdout
    split = searched.split
    assert split.train_start == search["fit_start"] <= search["fit_end"] < search["validation_start"]
    assert search["validation_end"] == split.train_end < split.holdout_start
    assert search["fit_rows"] + search["validation_rows"] == split.train_rows
    assert all(r["validation_rows"] == search["validation_rows"] for r in records)
    json.dumps(searched.info())  # plain types only
    assert searched.info()["candidates"] == records


def test_recorded_validation_scores_match_an_independent_refit(searched, features) -> None:
    """Refit two candidates by hand on the fit days, score the validation days, compare."""
    search = searched.params["search"]
    dates = _dates(features)
    fit = features[dates <= pd.Timestamp(search["fit_end"])]
    start, end = pd.Timestamp(search["validation_start"]), pd.Timestamp(search["validation_end"])
    validation = features[(dates >= start) & (dates <= end)]
    assert len(validation) == search["validation_rows"]
    for family in SEARCH_SPACE:
        record = next(r for r in searched.candidates if r["family"] == family)
        pipeline = build_pipeline(family, 0, hyperparams=record["hyperparams"])
        pipeline.fit(prepare_features(fit), fit["label"])
        proba = pipeline.predict_proba(prepare_features(validation))[:, 1]
        assert record["validation_log_loss"] == pytest.approx(log_loss(validation["label"], proba), abs=1e-12)
        assert record["validation_roc_auc"] == pytest.approx(roc_auc_score(validation["label"], proba))
        assert record["validation_brier"] == pytest.approx(brier_score_loss(validation["label"], proba))
    # and the kept model is the chosen candidate refitted on every training day
    chosen = next(r for r in searched.candidates if r["chosen"])
    train = features[dates < pd.Timestamp(searched.split.holdout_start)]
    refit = build_pipeline(chosen["family"], 0, hyperparams=chosen["hyperparams"])
    refit.fit(prepare_features(train), train["label"])
    np.testing.assert_allclose(
        searched.pipeline.predict_proba(prepare_features(features))[:, 1],
        refit.predict_proba(prepare_features(features))[:, 1],
    )


def test_the_holdout_never_influences_the_choice(features, searched) -> None:
    """Inverted labels on the held-out days would make another candidate the best if the
    holdout were used; the search records (scores and choice) do not change at all."""
    held = _dates(features) >= pd.Timestamp(searched.split.holdout_start)
    planted = features.assign(label=np.where(held, 1 - features["label"], features["label"]))
    result = train_model(planted, holdout_days=3)
    assert _without_timing(result.candidates) == _without_timing(searched.candidates)

    train, holdout = planted[~held], planted[held]
    holdout_losses = []
    for record in result.candidates:
        pipeline = build_pipeline(record["family"], 0, hyperparams=record["hyperparams"])
        pipeline.fit(prepare_features(train), train["label"])
        proba = pipeline.predict_proba(prepare_features(holdout))[:, 1]
        holdout_losses.append(log_loss(holdout["label"], proba))
    chosen = next(r for r in result.candidates if r["chosen"])
    assert int(np.argmin(holdout_losses)) != chosen["index"]  # the planted pattern would flip it
    assert result.metrics["model"]["log_loss"] == pytest.approx(holdout_losses[chosen["index"]])


def test_a_single_family_restricts_the_grid(features: pd.DataFrame) -> None:
    result = train_model(features, kind="logreg", holdout_days=3)
    assert [r["hyperparams"] for r in result.candidates] == [
        dict(c.sklearn) for c in search_candidates("logreg", 99, seed=0)
    ]
    assert {r["family"] for r in result.candidates} == {"logreg"} and result.params["kind"] == "logreg"
    assert result.params["search"]["space_size"] == len(SEARCH_SPACE["logreg"])
    bounded = train_model(features, kind="hgb", holdout_days=3, max_candidates=2, seed=1)
    assert len(bounded.candidates) == 2 and {r["family"] for r in bounded.candidates} == {"hgb"}
    assert bounded.candidates[0]["hyperparams"] == dict(SEARCH_SPACE["hgb"][0].sklearn)


def test_selection_metric_roc_auc(features: pd.DataFrame) -> None:
    result = train_model(features, holdout_days=3, selection_metric="roc_auc", max_candidates=4)
    assert len(result.candidates) == 4
    assert next(r for r in result.candidates if r["chosen"]) == _best(result.candidates, "roc_auc")
    with pytest.raises(ValueError, match="selection_metric 'f1'"):
        train_model(features, selection_metric="f1")


def test_ties_go_to_the_second_metric_then_to_the_earlier_candidate() -> None:
    def record(index: int, loss: float, auc: float) -> dict:
        return {"index": index, "validation_log_loss": loss, "validation_roc_auc": auc, "chosen": False}

    records = [record(0, 0.5, 0.70), record(1, 0.4, 0.70), record(2, 0.4, 0.75), record(3, 0.4, 0.75)]
    assert choose_candidate(records, "log_loss") == 2 and records[2]["chosen"]
    assert [r["chosen"] for r in records] == [False, False, True, False]
    records = [record(0, 0.5, 0.75), record(1, 0.4, 0.75)]
    assert choose_candidate(records, "roc_auc") == 1  # same AUC: the lower log loss


def test_one_candidate_reproduces_the_former_single_model(features: pd.DataFrame) -> None:
    result = train_model(features, kind="logreg", holdout_days=3, max_candidates=1)
    assert len(result.candidates) == 1 and result.candidates[0]["chosen"]
    assert result.candidates[0]["validation_log_loss"] is None
    assert result.params["search"]["status"] == "skipped"
    assert result.params["search"]["reason"] == "a single candidate: nothing to select"
    train = features[_dates(features) < pd.Timestamp(result.split.holdout_start)]
    former = build_pipeline("logreg").fit(prepare_features(train), train["label"])
    x = prepare_features(features)
    np.testing.assert_allclose(result.pipeline.predict_proba(x), former.predict_proba(x))


def test_too_few_training_days_fall_back_openly(features: pd.DataFrame, caplog) -> None:
    two_days = features[_dates(features) <= pd.Timestamp("2026-03-02")]
    with caplog.at_level(logging.WARNING, logger="platform_assets.lib.ml.training"):
        result = train_model(two_days, holdout_days=1, min_rows=100)
    search = result.params["search"]
    assert search["status"] == "skipped" and "1 training day" in search["reason"]
    assert "no model search (1 training day" in caplog.text
    assert len(result.candidates) == 1 and result.candidates[0]["chosen"]
    assert result.params["kind"] == "logreg"  # the first candidate, said so in the log and params

    explicit = train_model(features, holdout_days=3, validation_days=9)
    assert explicit.params["search"]["status"] == "skipped"
    assert "validation_days=9 leaves no fit day" in explicit.params["search"]["reason"]

    fixed = train_model(features, kind="logreg", holdout_days=3, validation_days=1)
    assert fixed.params["search"]["validation_days"] == 1
    assert fixed.params["search"]["validation_start"] == fixed.split.train_end


def test_train_metrics_are_computed_on_the_training_rows(searched, features) -> None:
    train = features[_dates(features) < pd.Timestamp(searched.split.holdout_start)]
    proba = searched.pipeline.predict_proba(prepare_features(train))[:, 1]
    assert searched.metrics["train"] == {
        "rows": len(train),
        "roc_auc": pytest.approx(roc_auc_score(train["label"], proba)),
        "log_loss": pytest.approx(log_loss(train["label"], proba)),
        "brier": pytest.approx(brier_score_loss(train["label"], proba)),
    }
    model = searched.metrics["model"]
    assert sum(b["rows"] for b in model["calibration"]["bins"]) == searched.split.holdout_rows
    assert set(model["tpr_at_fpr"]) == {"0.01", "0.05", "0.1", "0.2", "0.5"}
    assert list(model["tpr_at_fpr"].values()) == sorted(model["tpr_at_fpr"].values())
    assert searched.metrics["baseline"]["calibration"]["bins"][0]["rows"] == searched.split.holdout_rows


def test_score_probabilities_on_a_hand_made_example() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.8])
    scores = score_probabilities(y, p)
    # pairs (pos, neg): (0.4, 0.1) ok, (0.4, 0.6) wrong, (0.8, 0.1) ok, (0.8, 0.6) ok -> 3/4
    assert scores["roc_auc"] == pytest.approx(0.75)
    assert scores["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.04) / 4)
    expected_loss = -(np.log(0.9) + np.log(0.4) + np.log(0.4) + np.log(0.8)) / 4
    assert scores["log_loss"] == pytest.approx(expected_loss)
    assert scores["rows"] == 4
    assert score_probabilities(np.array([1, 1]), np.array([0.5, 0.7]))["roc_auc"] is None


def test_calibration_bins_on_a_hand_made_example() -> None:
    proba = np.array([0.05, 0.15, 0.12, 0.5, 0.55, 0.59, 0.95, 1.0])
    y = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    table = calibration_bins(y, proba, bins=5)  # edges 0, .2, .4, .6, .8, 1
    assert [(b["lower"], b["upper"], b["rows"]) for b in table["bins"]] == [
        (0.0, 0.2, 3),
        (0.4, 0.6, 3),  # empty bins are left out
        (0.8, 1.0, 2),  # 1.0 falls in the last, closed bin
    ]
    assert [b["mean_predicted"] for b in table["bins"]] == pytest.approx(
        [(0.05 + 0.15 + 0.12) / 3, (0.5 + 0.55 + 0.59) / 3, 0.975]
    )
    assert [b["observed_rate"] for b in table["bins"]] == pytest.approx([1 / 3, 2 / 3, 1.0])
    gaps = 3 * abs(0.32 / 3 - 1 / 3) + 3 * abs(1.64 / 3 - 2 / 3) + 2 * abs(0.975 - 1.0)
    assert table["ece"] == pytest.approx(gaps / 8)


def test_roc_summary_on_a_hand_made_example() -> None:
    # scores of 5 negatives and 4 positives; thresholds walk down the sorted scores
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    summary = roc_summary(y, p, fprs=(0.0, 0.2, 0.5, 1.0))
    # fpr 0: top two positives (tpr .5); fpr .2 (one negative): 3 positives; fpr .6 would add the 4th
    assert summary == {"0.0": 0.5, "0.2": 0.75, "0.5": 0.75, "1.0": 1.0}
