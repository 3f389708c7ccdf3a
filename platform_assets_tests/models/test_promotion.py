"""``lib/ml/promotion.py``: the promotion gate decided from hand-made scores."""

import math

import numpy as np
import pytest

from platform_assets.lib.ml.promotion import PromotionPolicy, decide, holdout_scores

BASELINE = {"roc_auc": 0.5, "log_loss": 0.40}
WINDOW = {"start": "2026-03-10", "end": "2026-03-12", "rows": 900}


def scores(auc: float, loss: float = 0.30, brier: float = 0.09) -> dict:
    return {"roc_auc": auc, "log_loss": loss, "brier": brier, "rows": 900, "positive_rate": 0.1}


def gates(decision) -> dict[str, bool]:
    return {g.name: g.passed for g in decision.gates}


def test_the_default_policy_compares_log_loss_with_a_small_margin() -> None:
    assert (PromotionPolicy().metric, PromotionPolicy().margin) == ("log_loss", 0.001)


def test_the_first_accepted_model_becomes_champion() -> None:
    d = decide("v0001", scores(0.70), True, BASELINE, None, None, PromotionPolicy(), WINDOW)
    assert d.promote and gates(d) == {"beats_baseline": True, "metric_floor": True, "beats_champion": True}
    assert d.reason == "no champion yet: v0001 becomes the first"
    record = d.as_record()
    assert record["action"] == "promote" and record["compared_with"] is None and record["holdout"] == WINDOW


@pytest.mark.parametrize(
    ("challenger", "champion", "promote"),
    [(0.706, 0.700, True), (0.7049, 0.700, False), (0.700, 0.700, False), (0.690, 0.700, False)],
)
def test_the_challenger_must_beat_the_champion_by_the_margin(challenger, champion, promote) -> None:
    policy = PromotionPolicy(metric="roc_auc", margin=0.005)
    d = decide("v0002", scores(challenger), True, BASELINE, "v0001", scores(champion), policy, WINDOW)
    assert d.promote is promote and gates(d)["beats_champion"] is promote
    figures = d.gate("beats_champion").figures
    assert math.isclose(figures["improvement"], challenger - champion)
    assert (figures["challenger_score"], figures["champion_score"]) == (challenger, champion)
    if not promote:
        assert d.reason.startswith("kept the champion: roc_auc")
        assert f"{challenger:.4f} (v0002) vs {champion:.4f} (v0001)" in d.reason
        assert d.as_record()["action"] == "keep"


def test_a_lower_is_better_metric_counts_improvement_downwards() -> None:
    policy = PromotionPolicy(metric="log_loss", margin=0.01)
    better = decide(
        "v2", scores(0.6, loss=0.28), True, BASELINE, "v1", scores(0.7, loss=0.30), policy, WINDOW
    )
    worse = decide(
        "v2", scores(0.8, loss=0.295), True, BASELINE, "v1", scores(0.7, loss=0.30), policy, WINDOW
    )
    assert better.promote and math.isclose(better.gate("beats_champion").figures["improvement"], 0.02)
    assert not worse.promote  # better AUC does not count: the policy's metric is log loss


def test_every_gate_blocks_on_its_own() -> None:
    policy = PromotionPolicy(min_roc_auc=0.72)
    d = decide("v2", scores(0.71, loss=0.28), False, BASELINE, "v1", scores(0.60), policy, WINDOW)
    assert gates(d) == {"beats_baseline": False, "metric_floor": False, "beats_champion": True}
    assert not d.promote
    assert "is below the floor 0.7200" in d.reason and "baseline" in d.reason


def test_a_champion_that_cannot_be_scored_stops_automatic_promotion() -> None:
    d = decide(
        "v2",
        scores(0.9),
        True,
        BASELINE,
        "v1",
        None,
        PromotionPolicy(),
        WINDOW,
        champion_error="file altered",
    )
    assert not d.promote and not d.gate("beats_champion").passed
    assert "cannot be scored (file altered)" in d.reason


@pytest.mark.parametrize(("metric", "margin"), [("accuracy", 0.0), ("roc_auc", -0.1), ("roc_auc", math.nan)])
def test_policy_is_validated(metric, margin) -> None:
    with pytest.raises(ValueError):
        PromotionPolicy(metric=metric, margin=margin)


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
