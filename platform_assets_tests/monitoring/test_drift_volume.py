"""``lib/ml/drift.py``: thresholds for the day's sample size hold the false-alarm rate at any volume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from platform_assets.lib.ml import drift
from platform_assets.lib.ml.drift import (
    DEFAULT_DRIFT_RULE,
    FIXED_THRESHOLD_RULE,
    compute_drift,
    null_threshold,
)

NUMERICAL = [f"n{i}" for i in range(6)]
CATEGORICAL = [f"c{i}" for i in range(4)]
# A category mix like the feature table's country: a few large, many rare categories.
COUNTRY_P = np.array([0.3, 0.2, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04, 0.02, 0.015, 0.01, 0.005])


def population(rows: int, seed: int, shifted: tuple[str, ...] = ()) -> pd.DataFrame:
    """Ten columns like the monitored features (counts, a flag, an hour, a rare-category mix);
    ``shifted`` columns move a lot (a drift no threshold should miss)."""
    rng = np.random.default_rng(seed)
    out = {
        "n0": rng.integers(0, 24, rows),
        "n1": rng.binomial(1, 0.7 if "n1" in shifted else 0.3, rows),
        "n2": rng.poisson(4.0 if "n2" in shifted else 1.5, rows),
        "n3": rng.poisson(0.2, rows),
        "n4": rng.negative_binomial(2, 0.2, rows),
        "n5": rng.exponential(3.0, rows),
    }
    country = COUNTRY_P[::-1] if "c0" in shifted else COUNTRY_P
    out["c0"] = rng.choice([f"k{i}" for i in range(len(COUNTRY_P))], rows, p=country)
    out["c1"] = rng.choice(["mobile", "desktop", "tablet"], rows, p=[0.42, 0.5, 0.08])
    out["c2"] = rng.choice(["home", "product", "search", "cart"], rows, p=[0.4, 0.3, 0.2, 0.1])
    out["c3"] = rng.choice(["direct", "search", "social", "email"], rows, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return population(2500, seed=0)


def judge(reference: pd.DataFrame, current: pd.DataFrame, folder: Path, **kwargs) -> drift.DriftSummary:
    return compute_drift(
        reference, current, NUMERICAL, CATEGORICAL, folder / "d.html", folder / "d.json", **kwargs
    )


@pytest.mark.parametrize("rows", [150, 3600])
def test_a_day_like_the_reference_is_not_flagged_and_a_shifted_column_is(
    rows: int, reference: pd.DataFrame, tmp_path: Path
) -> None:
    quiet = judge(reference, population(rows, seed=rows), tmp_path)
    assert quiet.drifted_columns == () and quiet.dataset_drift is False
    shifted = judge(reference, population(rows, seed=rows + 1, shifted=("n2", "c0")), tmp_path)
    # the shifted columns are flagged (another may be, by chance: each at level 1%)
    assert {"n2", "c0"} <= set(shifted.drifted_columns)
    assert shifted.dataset_drift is True  # 2 of 10 columns
    # every score is compared with the recorded threshold, and both come from the numbers
    for column in NUMERICAL + CATEGORICAL:
        method = "wasserstein" if column in NUMERICAL else "psi"
        current = population(rows, seed=rows + 1, shifted=("n2", "c0"))[column]
        expected = drift.score(
            reference[column].astype(str) if method == "psi" else reference[column],
            current.astype(str) if method == "psi" else current,
            method,
        )
        assert shifted.column_scores[column] == pytest.approx(expected, rel=1e-9)
        assert (column in shifted.drifted_columns) == (expected >= shifted.column_thresholds[column])
    assert shifted.column_sample_sizes == dict.fromkeys(NUMERICAL + CATEGORICAL, (2500, rows))
    assert shifted.column_level == pytest.approx(0.05 * 2 / 10)


def test_the_old_fixed_rule_alarms_on_small_quiet_days_and_the_new_one_does_not(
    reference: pd.DataFrame, tmp_path: Path
) -> None:
    # The fixed PSI 0.05 is below a 12-category mix's noise in 150 rows (E[PSI] ~ 11 * (1/150 +
    # 1/2500) = 0.078): the column alone passes it on most quiet days.
    country = reference["c0"]
    day_rows = [population(150, seed=100 + i)["c0"] for i in range(200)]
    psi = np.array([drift.score(country, day, "psi") for day in day_rows])
    assert (psi >= FIXED_THRESHOLD_RULE.cat_threshold).mean() > 0.5
    level = DEFAULT_DRIFT_RULE.column_level(10)
    threshold = null_threshold(country, 150, "psi", level, floor=DEFAULT_DRIFT_RULE.cat_threshold)
    flagged = int((psi >= threshold).sum())
    # at most 1% by construction: more than 8 of 200 has probability < 0.1% if that holds
    assert flagged <= 8, (flagged, threshold)


@pytest.mark.parametrize(("n", "m"), [(150, 2500), (1000, 2500), (3600, 5000)])
def test_a_flag_column_s_threshold_is_the_normal_critical_value(n: int, m: int) -> None:
    # For a 0/1 column the normed Wasserstein is |p_ref - p_cur| / sd(ref): asymptotically |Z|
    # sqrt(1/n + 1/m), whose 1 - level quantile is z(1 - level / 2) sqrt(1/n + 1/m), like the K-S
    # critical value c(alpha) sqrt((n + m) / (n m)).
    values = np.random.default_rng(n).binomial(1, 0.3, m)
    level = 0.01
    expected = stats.norm.ppf(1 - level / 2) * math.sqrt(1 / n + 1 / m)
    assert null_threshold(values, n, "wasserstein", level) == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize(("n", "m"), [(150, 2500), (1000, 2500), (3600, 5000)])
def test_a_category_threshold_is_the_chi_square_critical_value(n: int, m: int) -> None:
    # PSI is Jeffreys' divergence: PSI / (1/n + 1/m) is asymptotically chi-square with k - 1 d.f.
    values = np.random.default_rng(n).choice(list("abcdef"), m, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    level = 0.01
    expected = stats.chi2.ppf(1 - level, 5) * (1 / n + 1 / m)
    assert null_threshold(values, n, "psi", level) == pytest.approx(expected, rel=0.15)


def test_thresholds_shrink_as_the_day_grows_and_stop_at_the_floor(reference: pd.DataFrame) -> None:
    for column, method in (("n5", "wasserstein"), ("c0", "psi"), ("n0", "wasserstein")):
        sizes = (150, 500, 2000, 8000)
        free = [null_threshold(reference[column], n, method, 0.01) for n in sizes]
        assert free == sorted(free, reverse=True) and free[0] > 2 * free[-1], (column, free)
        floored = [null_threshold(reference[column], n, method, 0.01, floor=free[1]) for n in sizes]
        assert floored == [free[0], free[1], free[1], free[1]]


def test_thresholds_are_deterministic_and_recorded(reference: pd.DataFrame, tmp_path: Path) -> None:
    day = population(300, seed=7)
    first, second = judge(reference, day, tmp_path), judge(reference, day, tmp_path)
    assert first.column_thresholds == second.column_thresholds
    small = judge(reference, population(150, seed=8), tmp_path)
    for column in NUMERICAL + CATEGORICAL:
        assert small.column_thresholds[column] >= first.column_thresholds[column]
    recorded = first.as_dict()
    assert recorded["column_sample_sizes"]["c0"] == [2500, 300]
    assert recorded["rule"]["false_alarm_rate"] == 0.05


def test_an_adaptive_rule_needs_methods_it_can_resample() -> None:
    with pytest.raises(ValueError, match="wasserstein"):
        drift.DriftRule("ks", 0.05, "psi", 0.05, drift_share=0.2, false_alarm_rate=0.05)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        drift.DriftRule("wasserstein", 0.1, "psi", 0.025, drift_share=0.2, false_alarm_rate=1.5)
    with pytest.raises(ValueError, match="level"):
        null_threshold(np.arange(10), 5, "psi", 0.0)
