"""``lib/ml/paired_bootstrap.py``: improvements and their lower bounds, checked against hand-computed
values and a second, slow method."""

import itertools
import math

import numpy as np
import pytest

from platform_assets.lib.ml.paired_bootstrap import improvements, resample_weights, row_losses, weighted_auc


def test_a_tiny_example_hand_computed() -> None:
    # two visitors (a: rows 0-1, b: rows 2-3); the new model is better on a, the same on b
    labels = np.array([1, 0, 1, 0])
    new = np.array([0.8, 0.2, 0.5, 0.5])
    old = np.array([0.5, 0.5, 0.5, 0.5])
    units = np.array(["a", "a", "b", "b"])
    gain = improvements(labels, new, old, units, ("log_loss", "brier", "roc_auc"), level=0.95, resamples=400)
    # per-row log-loss gains: log(0.8) - log(0.5) on both rows of a, 0 on b -> mean log(1.6) / 2
    assert math.isclose(gain["log_loss"].estimate, math.log(1.6) / 2)
    # Brier: 0.25 - 0.04 on both rows of a -> 0.21 / 2
    assert math.isclose(gain["brier"].estimate, 0.105)
    # AUC new: pairs (pos, neg) = (0.8,0.2) 1, (0.8,0.5) 1, (0.5,0.2) 1, (0.5,0.5) 1/2 -> 3.5/4; old 0.5
    assert math.isclose(gain["roc_auc"].estimate, 0.875 - 0.5)
    # a resample holds a twice (gain log 1.6), a and b (log(1.6)/2), or b twice (0); b twice has
    # probability 1/4 > 5%: the 5% quantile is 0, below the estimate: not beyond chance
    loss = gain["log_loss"]
    assert loss.lower == 0.0 < loss.estimate and not loss.beyond_chance
    assert (loss.units, loss.rows, loss.resamples, loss.level) == (2, 4, 400, 0.95)


def test_a_gain_the_same_on_every_visitor_is_beyond_chance() -> None:
    # every row gains log(0.8 / 0.5) whatever the resample: the bound is that gain exactly
    labels = np.array([1, 0, 1, 0, 1, 0])
    new = np.array([0.8, 0.2, 0.8, 0.2, 0.8, 0.2])
    old = np.full(6, 0.5)
    loss = improvements(labels, new, old, np.array([1, 1, 2, 2, 3, 3]), ("log_loss",))["log_loss"]
    assert math.isclose(loss.estimate, math.log(1.6)) and math.isclose(loss.lower, math.log(1.6))
    assert loss.beyond_chance


def test_weighted_auc_matches_counting_pairs() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    scores = rng.choice([0.1, 0.2, 0.3, 0.5, 0.9], 40)  # many ties
    weights = rng.integers(0, 4, (3, 40)).astype(float)
    for w, auc in zip(weights, weighted_auc(labels, scores, weights), strict=True):
        right = total = 0.0
        for i, j in itertools.product(range(40), range(40)):
            if labels[i] == 1 and labels[j] == 0:
                pair = w[i] * w[j]
                total += pair
                right += pair * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
        assert math.isclose(auc, right / total)


def test_row_losses_average_to_the_scores() -> None:
    from sklearn.metrics import brier_score_loss, log_loss

    labels = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.7, 0.4, 0.3, 0.95])
    assert math.isclose(row_losses("log_loss", labels, p).mean(), log_loss(labels, p))
    assert math.isclose(row_losses("brier", labels, p).mean(), brier_score_loss(labels, p))


def test_units_are_drawn_whole() -> None:
    codes, weights = resample_weights(np.array([7, 7, 3, 9, 9, 9]), resamples=50, seed=1)
    assert list(codes) == [1, 1, 0, 2, 2, 2] and weights.shape == (50, 3)
    assert (weights.sum(axis=1) == 3).all()  # as many draws as units


def test_the_same_inputs_give_the_same_bound_and_another_seed_another() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    new, old = rng.random(300), rng.random(300)
    units = rng.integers(0, 120, 300)
    first = improvements(labels, new, old, units)
    again = improvements(labels, new.copy(), old.copy(), units.copy())
    assert first == again
    other = improvements(labels, new, old, units, seed=99)
    assert other["log_loss"].lower != first["log_loss"].lower
    assert other["log_loss"].estimate == first["log_loss"].estimate


def test_correlated_rows_widen_the_interval() -> None:
    # every visitor has 10 identical rows: resampling visitors must give the spread of 30 units,
    # not of 300 rows (about sqrt(10) times wider)
    rng = np.random.default_rng(5)
    labels = np.repeat(rng.integers(0, 2, 30), 10)
    new = np.repeat(rng.random(30), 10)
    old = np.full(300, 0.5)
    by_visitor = improvements(labels, new, old, np.repeat(np.arange(30), 10), ("log_loss",))["log_loss"]
    by_row = improvements(labels, new, old, np.arange(300), ("log_loss",))["log_loss"]
    width_visitor = by_visitor.estimate - by_visitor.lower
    width_row = by_row.estimate - by_row.lower
    assert 2.0 < width_visitor / width_row < 5.0


@pytest.mark.parametrize(
    "bad",
    [
        {"labels": np.array([0, 1]), "new": np.array([0.5]), "old": np.array([0.5, 0.5])},
        {"level": 0.3},
        {"metrics": ("accuracy",)},
    ],
)
def test_bad_inputs_are_refused(bad) -> None:
    args = {
        "labels": np.array([0, 1]),
        "new": np.array([0.4, 0.6]),
        "old": np.array([0.5, 0.5]),
        "units": np.array([1, 2]),
    }
    args.update(bad)
    with pytest.raises(ValueError):
        improvements(**args)
