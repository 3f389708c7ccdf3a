"""The A/B analysis of a live traffic split: arm summaries by hand, error rates under peeking."""

import math

import numpy as np
import pytest

from platform_assets.lib.ml import ab_test as ab


def _traffic(seed: int, visitors: int, share: float, champion_noise: float, challenger_noise: float):
    """Sessions of ``visitors`` (1-5 sessions each) whose true conversion probability is known;
    each arm's model sees it through logit noise of its own size (less noise: a better model)."""
    rng = np.random.default_rng(seed)
    visitor = np.repeat(np.arange(visitors), rng.geometric(0.6, visitors))
    logit = rng.normal(-3, 1, visitors)[visitor] + rng.normal(0, 0.5, len(visitor))
    converted = rng.random(len(visitor)) < 1 / (1 + np.exp(-logit))
    challenger = (rng.random(visitors) < share)[visitor]
    noise = np.where(challenger, challenger_noise, champion_noise)
    served = 1 / (1 + np.exp(-(logit + rng.normal(0, 1, len(visitor)) * noise)))
    starts = np.datetime64("2025-03-01T00:00:00") + np.arange(len(visitor)).astype("timedelta64[s]")
    arms = np.where(challenger, "challenger", "champion")
    return visitor.astype(str), starts, arms, served, converted.astype(int)


def _first_decision(traffic, share: float, looks: int, interval) -> str:
    """Look ``looks`` times at growing prefixes of the visitors and stop at the first decision."""
    visitor, _, arms, served, converted = traffic
    codes = visitor.astype(int)
    loss = np.bincount(codes, ab.row_losses("log_loss", converted, served)) / np.bincount(codes)
    arm_of = np.zeros(codes.max() + 1, dtype=bool)
    arm_of[codes] = arms == "challenger"
    psi = ab.aipw_terms(np.arange(len(loss)), arm_of, loss, share)
    lower, upper = interval(psi)
    in_smaller_arm = np.minimum(np.cumsum(arm_of), np.cumsum(~arm_of))
    for t in np.linspace(len(psi) / looks, len(psi), looks).astype(int) - 1:
        if in_smaller_arm[t] < ab.MIN_VISITORS_PER_ARM:  # analyse() decides nothing before
            continue
        if upper[t] < 0:
            return "challenger_better"
        if lower[t] > 0:
            return "challenger_worse"
    return "continue"


def _sequence(psi):
    return ab.running_confidence_sequence(psi, ab.ALPHA, len(psi))[1:]


def _fixed_horizon_interval(psi):
    """The naive 95% interval, valid at ONE look decided in advance."""
    t = np.arange(1, len(psi) + 1)
    mean = np.cumsum(psi) / t
    sd = np.sqrt(np.maximum(np.cumsum(psi * psi) / t - mean**2, 0) * t / np.maximum(t - 1, 1))
    return mean - 1.96 * sd / np.sqrt(t), mean + 1.96 * sd / np.sqrt(t)


def test_arm_summaries_are_the_hand_computed_figures():
    # 3 champion visitors (a: 2 sessions, b: 1, c: 1), 2 challenger visitors (d: 1, e: 2)
    visitors = np.array(["a", "a", "b", "c", "d", "e", "e"])
    arms = np.array(["champion"] * 4 + ["challenger"] * 3)
    versions = np.array(["v0001"] * 4 + ["v0002"] * 3)
    p = np.array([0.2, 0.6, 0.1, 0.5, 0.9, 0.3, 0.4])
    y = np.array([0, 1, 0, 1, 1, 0, 1])
    starts = np.datetime64("2025-03-01") + np.arange(7).astype("timedelta64[h]")
    result = ab.analyse(visitors, starts, arms, versions, p, y, challenger_share=0.4, budget_sessions=100)
    champion, challenger = result.champion, result.challenger
    assert (champion.sessions, champion.visitors, champion.conversions) == (4, 3, 2)
    assert (challenger.sessions, challenger.visitors, challenger.conversions) == (3, 2, 2)
    assert champion.version == "v0001" and challenger.version == "v0002"
    champion_loss = -(math.log(0.8) + math.log(0.6) + math.log(0.9) + math.log(0.5)) / 4
    assert champion.log_loss == pytest.approx(champion_loss)
    assert champion.conversion_rate == pytest.approx(0.5)
    assert champion.calibration_gap == pytest.approx((0.2 + 0.6 + 0.1 + 0.5) / 4 - 0.5)
    # champion AUC: positives 0.6, 0.5 against negatives 0.2, 0.1: all 4 pairs ranked right
    assert champion.roc_auc == pytest.approx(1.0)
    # challenger: positives 0.9, 0.4 against the negative 0.3: both right
    assert challenger.roc_auc == pytest.approx(1.0)
    # the difference is of visitor means: challenger d, e; champion a, b, c
    visitor_loss = {
        "a": -(math.log(0.8) + math.log(0.6)) / 2,
        "b": -math.log(0.9),
        "c": -math.log(0.5),
        "d": -math.log(0.9),
        "e": -(math.log(0.7) + math.log(0.4)) / 2,
    }
    # AIPW with predictable means: check against a plain loop over visitors in order a..e
    psi, sums, counts = [], {True: 0.0, False: 0.0}, {True: 0, False: 0}
    for v in "abcde":
        z = v in "de"
        m1 = sums[True] / counts[True] if counts[True] else 0.0
        m0 = sums[False] / counts[False] if counts[False] else 0.0
        yv = visitor_loss[v]
        psi.append(m1 - m0 + (z * (yv - m1) / 0.4) - ((not z) * (yv - m0) / 0.6))
        sums[z] += yv
        counts[z] += 1
    assert result.difference == pytest.approx(np.mean(psi))
    assert result.decision == "continue"  # 2 and 3 visitors: far from the minimum per arm


def test_a_visitor_served_by_both_arms_is_refused():
    visitors = np.array(["a", "a", "b"])
    with pytest.raises(ValueError, match="1 visitors were served by both arms"):
        ab.analyse(
            visitors,
            np.array(["2025-03-01T00:00", "2025-03-01T01:00", "2025-03-01T02:00"], dtype="datetime64[s]"),
            np.array(["champion", "challenger", "champion"]),
            np.array(["v1", "v2", "v1"]),
            np.array([0.1, 0.2, 0.3]),
            np.array([0, 1, 0]),
            challenger_share=0.5,
            budget_sessions=10,
        )


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_peeking_at_an_aa_test_decides_wrongly_at_most_alpha_of_the_time(share):
    """400 A/A experiments (both arms the same model), each looked at 30 times: the sequence
    decides in at most 5% of them; the fixed-horizon interval, looked at the same way, does not."""
    runs = [_traffic(seed, 4000, share, 1.0, 1.0) for seed in range(10_000, 10_400)]  # not the tuning seeds
    sequence = np.mean([_first_decision(r, share, 30, _sequence) != "continue" for r in runs])
    naive = np.mean([_first_decision(r, share, 30, _fixed_horizon_interval) != "continue" for r in runs])
    assert sequence <= ab.ALPHA
    assert naive > 2 * ab.ALPHA  # what peeking does to a test built for one look


@pytest.mark.parametrize("better", [True, False])
def test_a_truly_better_or_worse_challenger_is_decided_correctly(better):
    noise = (2.0, 0.5) if better else (0.5, 2.0)  # champion, challenger
    expected = "challenger_better" if better else "challenger_worse"
    decisions = [_first_decision(_traffic(s, 10_000, 0.1, *noise), 0.1, 30, _sequence) for s in range(40)]
    assert decisions.count(expected) >= 38  # power >= 95% at 10,000 visitors, 10% to the challenger
    traffic = _traffic(99, 10_000, 0.1, *noise)
    versions = np.where(traffic[2] == "challenger", "v0002", "v0001")
    result = ab.analyse(*traffic[:3], versions, *traffic[3:], challenger_share=0.1, budget_sessions=10**6)
    assert result.decision == expected
    assert (result.interval[1] < 0) if better else (result.interval[0] > 0)


def test_an_undecided_experiment_ends_when_its_budget_is_spent():
    traffic = _traffic(5, 3000, 0.5, 1.0, 1.0)
    versions = np.where(traffic[2] == "challenger", "v0002", "v0001")
    sessions = len(traffic[0])
    open_ = ab.analyse(
        *traffic[:3], versions, *traffic[3:], challenger_share=0.5, budget_sessions=sessions + 1
    )
    spent = ab.analyse(*traffic[:3], versions, *traffic[3:], challenger_share=0.5, budget_sessions=sessions)
    assert open_.interval[0] < 0 < open_.interval[1]
    assert (open_.decision, spent.decision) == ("continue", "budget_spent")
