"""``lib/ml/promotion.py``: the promotion gate decided from hand-made probabilities."""

import math

import numpy as np
import pytest

from platform_assets.lib.ml.promotion import HeldOut, PromotionPolicy, decide, holdout_scores

WINDOW = {"start": "2026-03-10", "end": "2026-03-12"}


def gates(decision) -> dict[str, bool]:
    return {g.name: g.passed for g in decision.gates}


def every_row_gains(delta: float, rows: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a challenger (0.8 on positives, 0.2 on negatives) and a champion whose log loss is
    worse by exactly ``delta`` on every row: every resample's gain is ``delta``."""
    labels = np.tile([1, 0], rows // 2)
    challenger = np.where(labels == 1, 0.8, 0.2)
    champion = np.where(labels == 1, 0.8 * math.exp(-delta), 1 - 0.8 * math.exp(-delta))
    return labels, challenger, champion


def held_out(labels, challenger, champion=None, prior=0.5) -> HeldOut:
    units = np.arange(len(labels)) // 2  # two rows a visitor
    return HeldOut(labels, challenger, np.full(len(labels), prior), champion, units)


def planted(seed: int, rows: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One feature that moves conversion from about 5% to 40%, visitors of 3 sessions each."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-(-2.2 + 1.2 * x)))).astype(int)
    return x.reshape(-1, 1), labels, np.arange(rows) // 3


def fitted_probabilities(x_train, y_train, x_holdout) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(x_train, y_train).predict_proba(x_holdout)[:, 1]


def test_the_default_policy_compares_log_loss_with_a_small_margin_at_95_percent() -> None:
    policy = PromotionPolicy()
    assert (policy.metric, policy.margin, policy.level, policy.resamples) == ("log_loss", 0.001, 0.95, 2000)
    assert policy.baseline_level == 0.99


@pytest.mark.parametrize("shuffle_seed", [1, 2, 3])
def test_a_shuffled_label_model_is_refused_and_a_model_with_the_signal_accepted(shuffle_seed) -> None:
    x, labels, units = planted(seed=11)
    train, holdout = slice(0, 2000), slice(2000, None)
    # useless: the labels shuffled over every row (training and held out) carry no signal
    shuffled = np.random.default_rng(shuffle_seed).permutation(labels)
    useless = fitted_probabilities(x[train], shuffled[train], x[holdout])
    good = fitted_probabilities(x[train], labels[train], x[holdout])
    policy = PromotionPolicy()

    def first_champion(y, probabilities):
        prior = np.full(1000, y[train].mean())
        return decide("v1", HeldOut(y[holdout], probabilities, prior, None, units[holdout]), None, policy, {})

    refused, accepted = first_champion(shuffled, useless), first_champion(labels, good)
    assert not refused.promote and not refused.gate("beats_baseline").passed
    assert accepted.promote and accepted.gate("beats_baseline").passed
    # the bound is what refuses: the useless model's AUC gain is not beyond chance
    assert refused.comparisons["baseline"]["roc_auc"]["lower"] <= 0
    assert accepted.comparisons["baseline"]["roc_auc"]["lower"] > 0.1
    # and, as a challenger on the real labels, the good model replaces a useless champion
    held = HeldOut(labels[holdout], good, np.full(1000, labels[train].mean()), useless, units[holdout])
    promoted = decide("v2", held, "v1", policy, {})
    assert promoted.promote and promoted.comparisons["champion"]["log_loss"]["lower"] > 0.001


def test_the_first_accepted_model_becomes_champion() -> None:
    labels, challenger, _ = every_row_gains(0.0)
    d = decide("v0001", held_out(labels, challenger), None, PromotionPolicy(), WINDOW)
    assert d.promote and gates(d) == {"beats_baseline": True, "metric_floor": True, "beats_champion": True}
    assert d.reason == "no champion yet: v0001 becomes the first"
    record = d.as_record()
    assert record["action"] == "promote" and record["compared_with"] is None
    assert record["holdout"] == {**WINDOW, "rows": 200, "units": 100}
    assert (record["level"], record["baseline_level"], record["resamples"]) == (0.95, 0.99, 2000)
    auc = record["comparisons"]["baseline"]["roc_auc"]
    assert (auc["estimate"], auc["units"], auc["rows"]) == (0.5, 100, 200)  # 1.0 vs the prior's 0.5


@pytest.mark.parametrize(
    ("delta", "promote"), [(0.0101, True), (0.0099, False), (0.0, False), (-0.01, False)]
)
def test_the_challenger_must_beat_the_champion_by_the_margin(delta, promote) -> None:
    labels, challenger, champion = every_row_gains(delta)
    policy = PromotionPolicy(metric="log_loss", margin=0.01)
    d = decide("v0002", held_out(labels, challenger, champion), "v0001", policy, WINDOW)
    assert d.promote is promote and gates(d)["beats_champion"] is promote
    figures = d.gate("beats_champion").figures
    assert math.isclose(figures["improvement"], delta, abs_tol=1e-12)
    assert math.isclose(figures["lower_bound"], delta, abs_tol=1e-12)  # the same gain on every row
    assert math.isclose(figures["champion_score"] - figures["challenger_score"], delta, abs_tol=1e-12)
    if not promote:
        assert d.reason.startswith("kept the champion: log_loss")
        assert "(v0002) vs" in d.reason and "margin 0.0100" in d.reason
        assert d.as_record()["action"] == "keep"


def test_a_gain_within_chance_does_not_promote() -> None:
    # the challenger is better on average but only through a few visitors: not beyond chance
    rng = np.random.default_rng(4)
    labels = (rng.random(600) < 0.1).astype(int)
    champion = np.full(600, 0.1)
    challenger = champion.copy()
    lucky = np.flatnonzero(labels == 1)[:3]
    challenger[lucky] = 0.3  # three converting rows predicted higher: log loss lower on average
    d = decide("v2", held_out(labels, challenger, champion, prior=0.1), "v1", PromotionPolicy(margin=0.0), {})
    figures = d.gate("beats_champion").figures
    assert figures["improvement"] > 0 and figures["lower_bound"] <= 0 and not d.promote


def test_the_policy_metric_decides_not_the_other_scores() -> None:
    labels, challenger, _ = every_row_gains(0.0)
    # the champion ranks worse (ties on 60 rows) but has a better log loss (0.223 for the challenger)
    champion = np.where(labels == 1, 0.99, 0.01)
    champion[:60] = 0.5  # AUC 1 - (30 x 30 tied pairs / 2) / (100 x 100) = 0.955, log loss ~0.215
    by_loss = decide("v2", held_out(labels, challenger, champion), "v1", PromotionPolicy(), {})
    assert not by_loss.promote  # a better AUC does not count: the policy's metric is log loss
    by_auc = decide("v2", held_out(labels, challenger, champion), "v1", PromotionPolicy("roc_auc", 0.005), {})
    assert by_auc.gate("beats_champion").figures["improvement"] > 0 and by_auc.promote


def test_every_gate_blocks_on_its_own() -> None:
    rng = np.random.default_rng(8)
    labels = (rng.random(400) < 0.3).astype(int)
    no_signal = np.full(400, 0.3) + rng.normal(0, 0.01, 400)  # calibrated, ranks at random
    overconfident = np.full(400, 0.9)  # the champion: far worse log loss
    policy = PromotionPolicy(min_roc_auc=0.72)
    d = decide("v2", held_out(labels, no_signal, overconfident, prior=0.3), "v1", policy, WINDOW)
    assert gates(d) == {"beats_baseline": False, "metric_floor": False, "beats_champion": True}
    assert not d.promote
    assert "is below the floor 0.7200" in d.reason and "baseline" in d.reason


def test_the_same_inputs_give_the_same_decision() -> None:
    x, labels, units = planted(seed=5, rows=1500)
    challenger = fitted_probabilities(x[:1000], labels[:1000], x[1000:])
    champion = np.clip(challenger + np.random.default_rng(1).normal(0, 0.02, 500), 0.01, 0.99)
    held = HeldOut(labels[1000:], challenger, np.full(500, labels[:1000].mean()), champion, units[1000:])
    first = decide("v2", held, "v1", PromotionPolicy(), WINDOW).as_record()
    again = decide("v2", held, "v1", PromotionPolicy(), WINDOW).as_record()
    assert first == again
    other = decide("v2", held, "v1", PromotionPolicy(seed=1), WINDOW).as_record()
    assert other["comparisons"]["champion"] != first["comparisons"]["champion"]  # the seed matters


def test_a_champion_that_cannot_be_scored_stops_automatic_promotion() -> None:
    labels, challenger, _ = every_row_gains(0.0)
    held = held_out(labels, challenger)
    d = decide("v2", held, "v1", PromotionPolicy(), WINDOW, champion_error="file altered")
    assert not d.promote and not d.gate("beats_champion").passed
    assert "cannot be scored (file altered)" in d.reason


@pytest.mark.parametrize(
    "fields",
    [
        {"metric": "accuracy"},
        {"margin": -0.1},
        {"margin": math.nan},
        {"level": 0.3},
        {"level": 1.0},
        {"baseline_level": 0.4},
        {"resamples": 10},
    ],
)
def test_policy_is_validated(fields) -> None:
    with pytest.raises(ValueError):
        PromotionPolicy(**fields)


def test_holdout_scores_match_hand_computed_values() -> None:
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([0.1, 0.6, 0.4, 0.8])
    s = holdout_scores(labels, probabilities)
    # pairs (positive, negative): (0.4,0.1) yes, (0.4,0.6) no, (0.8,0.1) yes, (0.8,0.6) yes -> 3/4
    assert s["roc_auc"] == 0.75
    expected_loss = -np.mean([np.log(0.9), np.log(0.4), np.log(0.4), np.log(0.8)])
    assert math.isclose(s["log_loss"], expected_loss)
    assert math.isclose(s["brier"], np.mean([0.01, 0.36, 0.36, 0.04]))
    assert (s["rows"], s["positive_rate"]) == (4, 0.5)


@pytest.mark.parametrize(
    ("labels", "probabilities"),
    [([1, 1], [0.2, 0.3]), ([0, 1], [0.2]), ([0, 1], [0.2, 1.5]), ([0, 1], [0.2, np.nan]), ([], [])],
)
def test_holdout_scores_refuse_what_cannot_be_scored(labels, probabilities) -> None:
    with pytest.raises(ValueError):
        holdout_scores(np.array(labels), np.array(probabilities, dtype=float))
