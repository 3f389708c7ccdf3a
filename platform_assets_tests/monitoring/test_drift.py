"""``lib/ml/drift.py``: Evidently's data drift on samples with and without planted shifts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from platform_assets.lib.ml.drift import (
    DEFAULT_DRIFT_RULE,
    EVIDENTLY_DEFAULT_RULE,
    FIXED_THRESHOLD_RULE,
    DriftRule,
    DriftSummary,
    column_scores,
    compute_drift,
)

NUMERICAL = ["amount", "latency", "visits"]
CATEGORICAL = ["device", "country"]
SCRIPT = "<script>alert(1)</script>"
BREAKOUT = "</script><script>alert(2)</script>"


def sample(
    rows: int, seed: int, amount_shift: float = 0.0, latency_scale: float = 1.0, mobile: float = 0.3
) -> pd.DataFrame:
    """Five columns; the keyword arguments shift amount, latency and device."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(50 + amount_shift, 10, rows),
            "latency": rng.exponential(100 * latency_scale, rows),
            "visits": rng.poisson(3, rows),
            "device": rng.choice(["mobile", "desktop"], rows, p=[mobile, 1 - mobile]),
            "country": rng.choice(["DE", "FR", SCRIPT, BREAKOUT, None], rows),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return sample(3000, seed=0)


def run(reference: pd.DataFrame, current: pd.DataFrame, folder: Path, **kwargs) -> DriftSummary:
    return compute_drift(
        reference, current, NUMERICAL, CATEGORICAL, folder / "drift.html", folder / "drift.json", **kwargs
    )


def test_same_distribution_is_not_flagged(reference: pd.DataFrame, tmp_path: Path) -> None:
    summary = run(reference, sample(2000, seed=1), tmp_path)
    assert summary.dataset_drift is False
    assert summary.drifted_columns == ()
    assert summary.drift_share == 0.0
    assert summary.n_columns == 5
    assert (summary.reference_rows, summary.current_rows) == (3000, 2000)
    assert set(summary.column_scores) == set(NUMERICAL + CATEGORICAL)
    assert summary.column_methods["amount"] == "Wasserstein distance (normed)"
    assert summary.column_methods["device"] == "PSI"  # DEFAULT_DRIFT_RULE's categorical method
    assert summary.rule == DEFAULT_DRIFT_RULE


def test_shifted_columns_are_named(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = sample(2000, seed=2, amount_shift=8, latency_scale=2.5, mobile=0.7)
    summary = run(reference, current, tmp_path)
    assert summary.drifted_columns == ("amount", "latency", "device")
    assert summary.drift_share == pytest.approx(3 / 5)
    assert summary.dataset_drift is True
    for column in summary.drifted_columns:
        assert summary.column_scores[column] >= summary.column_thresholds[column]
    assert json.loads(json.dumps(summary.as_dict()))["drifted_columns"] == [
        "amount",
        "latency",
        "device",
    ]


def test_reports_are_written_atomically(reference: pd.DataFrame, tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "2026-03-10"
    summary = run(reference, sample(1500, seed=3), folder)
    assert summary.html_path.read_text("utf-8").lstrip().startswith("<!DOCTYPE html>")
    assert "metrics" in json.loads(summary.json_path.read_text("utf-8"))
    assert sorted(p.name for p in folder.iterdir()) == ["drift.html", "drift.json"]


def test_category_values_are_escaped_in_html(reference: pd.DataFrame, tmp_path: Path) -> None:
    # Evidently puts category values raw into a JSON blob inside an inline <script>; the
    # adapter escapes them first, so neither value can end that block or open a new one.
    page = run(reference, sample(1500, seed=4), tmp_path).html_path.read_text("utf-8")
    assert SCRIPT not in page
    assert BREAKOUT not in page
    assert "alert(2)" in page  # the value is there, escaped
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_empty_current_data_is_an_error(reference: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="current data is empty"):
        run(reference, reference.head(0), tmp_path)


def test_missing_column_is_an_error(reference: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"current data is missing columns: \['visits'\]"):
        run(reference, sample(500, seed=5).drop(columns=["visits"]), tmp_path)


def test_all_null_column_in_current_is_reported_as_drift(reference: pd.DataFrame, tmp_path: Path) -> None:
    # Evidently itself raises "An empty column 'latency' was provided for drift calculation".
    current = sample(1500, seed=6).assign(latency=np.nan, country=None)
    summary = run(reference, current, tmp_path)
    assert summary.empty_columns == ("latency", "country")
    assert summary.drifted_columns == ("latency", "country")
    assert summary.dataset_drift is True  # 2 of 5 >= DEFAULT_DRIFT_RULE's 0.2
    assert run(reference, current, tmp_path, drift_share_threshold=0.5).dataset_drift is False  # < 0.5
    assert summary.column_scores["latency"] is None
    assert summary.column_methods["latency"] == "all null in current"
    assert summary.column_scores["amount"] is not None
    assert summary.html_path.exists()
    json.dumps(summary.as_dict())


# --- the drift rule ---------------------------------------------------------------------------


def test_the_rule_is_recorded_and_the_share_argument_still_overrides_it(
    reference: pd.DataFrame, tmp_path: Path
) -> None:
    rule = DriftRule("psi", 0.3, "jensenshannon", 0.2, drift_share=0.4)
    summary = run(reference, sample(1500, seed=7), tmp_path, rule=rule)
    assert summary.rule == rule
    assert summary.drift_share_threshold == 0.4
    assert summary.column_methods["amount"] == "PSI"
    assert summary.column_thresholds == {**dict.fromkeys(NUMERICAL, 0.3), **dict.fromkeys(CATEGORICAL, 0.2)}
    assert json.loads(json.dumps(summary.as_dict()))["rule"] == {
        "num_method": "psi",
        "num_threshold": 0.3,
        "cat_method": "jensenshannon",
        "cat_threshold": 0.2,
        "drift_share": 0.4,
        "false_alarm_rate": None,
    }
    legacy = run(reference, sample(1500, seed=7), tmp_path, drift_share_threshold=0.6)
    assert legacy.rule == dataclasses.replace(DEFAULT_DRIFT_RULE, drift_share=0.6)
    assert legacy.drift_share_threshold == 0.6


@pytest.mark.parametrize(
    "fields",
    [
        {"drift_share": 0.0},
        {"drift_share": 1.5},
        {"num_threshold": -0.1},
        {"cat_threshold": float("nan")},
    ],
)
def test_a_rule_out_of_range_is_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(DEFAULT_DRIFT_RULE, **fields)


def _psi(reference: pd.Series, current: pd.Series) -> float:
    """PSI of two category samples, as Evidently bins them (an empty category counts 0.0001)."""
    keys = sorted(set(reference) | set(current))
    r = reference.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    c = current.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    r, c = np.where(r == 0, 0.0001, r), np.where(c == 0, 0.0001, c)
    return float(np.sum((r - c) * np.log(r / c)))


def test_fixed_rule_scores_are_psi_and_normed_wasserstein(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = sample(2000, seed=8, amount_shift=2.5, mobile=0.38)
    summary = run(reference, current, tmp_path, rule=FIXED_THRESHOLD_RULE)
    wasserstein = stats.wasserstein_distance(reference["amount"], current["amount"]) / reference[
        "amount"
    ].std(ddof=0)
    assert summary.column_scores["amount"] == pytest.approx(wasserstein, rel=1e-9)
    assert summary.column_scores["device"] == pytest.approx(
        _psi(reference["device"], current["device"]), rel=1e-9
    )
    # amount ~0.25 >= 0.2 drifted, device ~0.03 < 0.05 did not; 1 of these 5 columns is the 0.2 share
    # (DEFAULT_DRIFT_RULE, whose device threshold for 2,000 rows is lower, flags both: test_drift_volume)
    assert summary.drifted_columns == ("amount",)
    assert summary.dataset_drift is True


def _wide(rows: int, seed: int, shifted: tuple[str, ...] = ()) -> pd.DataFrame:
    """Ten columns like the feature table's monitored ones; ``shifted`` columns move."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(6):
        out[f"n{i}"] = rng.normal(1.0 if f"n{i}" in shifted else 0.0, 1.0, rows)
    for i in range(4):
        p = [0.3, 0.3, 0.4] if f"c{i}" in shifted else [0.5, 0.3, 0.2]
        out[f"c{i}"] = rng.choice(["a", "b", "c"], rows, p=p)
    return pd.DataFrame(out)


@pytest.mark.parametrize(
    ("shifted", "alarm"),
    [((), False), (("c1",), False), (("c1", "c3"), True), (("n2", "c0"), True)],
)
def test_the_default_rule_needs_two_of_ten_columns(shifted: tuple, alarm: bool, tmp_path: Path) -> None:
    numerical, categorical = [f"n{i}" for i in range(6)], [f"c{i}" for i in range(4)]
    summary = compute_drift(
        _wide(2500, seed=1),
        _wide(400, seed=2, shifted=shifted),
        numerical,
        categorical,
        tmp_path / "d.html",
        tmp_path / "d.json",
    )
    assert summary.drifted_columns == shifted
    assert summary.dataset_drift is alarm


def test_p_value_rules_follow_scipy(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = sample(2000, seed=9, amount_shift=1.0)
    rule = DriftRule("ks", 0.05, "chisquare", 0.05, drift_share=0.5)
    summary = run(reference, current, tmp_path, rule=rule)
    p_amount = stats.ks_2samp(reference["amount"], current["amount"]).pvalue
    assert summary.column_methods["amount"] == "K-S p_value"
    assert summary.column_scores["amount"] == pytest.approx(p_amount, rel=1e-6)
    counts = pd.crosstab(
        np.r_[np.zeros(len(reference)), np.ones(len(current))],
        np.r_[reference["device"].to_numpy(), current["device"].to_numpy()],
    )
    expected = counts.iloc[0] / counts.iloc[0].sum() * counts.iloc[1].sum()
    p_device = stats.chisquare(counts.iloc[1], expected).pvalue
    assert summary.column_scores["device"] == pytest.approx(p_device, rel=1e-6)
    assert ("amount" in summary.drifted_columns) == (p_amount <= 0.05)
    assert ("device" in summary.drifted_columns) == (p_device < 0.05)


@pytest.mark.parametrize("rule", [DEFAULT_DRIFT_RULE, EVIDENTLY_DEFAULT_RULE], ids=["default", "evidently"])
def test_column_scores_are_compute_drift_scores(
    rule: DriftRule, reference: pd.DataFrame, tmp_path: Path
) -> None:
    current = sample(1800, seed=10, latency_scale=1.4)
    summary = run(reference, current, tmp_path, rule=rule)
    scores = column_scores(reference, current, NUMERICAL, CATEGORICAL, [rule.num_method], [rule.cat_method])
    assert {s.column for s in scores} == set(NUMERICAL + CATEGORICAL)
    for s in scores:
        assert s.score == pytest.approx(summary.column_scores[s.column], rel=1e-12), s
        assert s.drifted_at_default == (s.score >= 0.1)  # every method here is a distance, default 0.1
    resolved = {s.column: s.resolved for s in scores}
    if rule is EVIDENTLY_DEFAULT_RULE:  # Evidently's choice for a 3000-row reference
        assert resolved == {
            **dict.fromkeys(NUMERICAL, "wasserstein"),
            **dict.fromkeys(CATEGORICAL, "jensenshannon"),
        }
