"""``benchmarks/alarm.py``: the drift-alarm experiment's statistics, rule sweep and report, and a
tiny end-to-end run of ``python -m benchmarks.alarm``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import alarm, report  # noqa: E402

NUMERICAL = [f"n{i}" for i in range(6)]
CATEGORICAL = [f"c{i}" for i in range(4)]


@pytest.mark.parametrize(("k", "n"), [(0, 24), (1, 60), (12, 24), (23, 24), (24, 24)])
def test_wilson_bounds_solve_the_score_equation(k: int, n: int) -> None:
    z = 1.959963984540054
    low, high = alarm.wilson(k, n)
    share = k / n
    for bound in (low, high):  # a Wilson bound p solves (share - p)^2 = z^2 p (1 - p) / n, or is 0 or 1
        if 0 < bound < 1:
            assert (share - bound) ** 2 == pytest.approx(z * z * bound * (1 - bound) / n, rel=1e-9)
    assert low <= share <= high
    assert (low == 0) == (k == 0) and (high == 1) == (k == n)
    if k == 0:
        assert high == pytest.approx(z * z / (n + z * z))


def _record(strength: float, drifted: dict[str, float]) -> dict:
    """A day whose every column scores 0.01 by every method, but ``drifted`` columns."""
    scores = {
        c: dict.fromkeys({*alarm.NUM_METHODS, *alarm.CAT_METHODS}, 0.01) for c in NUMERICAL + CATEGORICAL
    }
    for column, value in drifted.items():
        scores[column] = dict.fromkeys(scores[column], value)
    for column in scores:  # p-values: no drift anywhere
        scores[column].update(ks=0.5, chisquare=0.5)
    return {"strength": strength, "scores": scores, "evidently_default_drifted": list(drifted)}


@pytest.fixture
def days() -> alarm.Days:
    records = (
        [_record(0.0, {}) for _ in range(5)]
        + [_record(0.5, {"c0": 0.3}) for _ in range(5)]
        + [_record(1.0, {"c0": 0.3, "c1": 0.3}) for _ in range(5)]
    )
    return alarm.Days.of(records, NUMERICAL, CATEGORICAL)


def test_a_rule_s_rates_and_margins_on_known_scores(days: alarm.Days) -> None:
    rule = {
        "num_method": "wasserstein",
        "num_threshold": 0.2,
        "cat_method": "psi",
        "cat_threshold": 0.05,
        "drift_share": 0.2,
    }
    rates = alarm.rates_of_rule(days, rule, 10)
    assert rates.alarms == {0.0: 0, 0.5: 0, 1.0: 5}  # one drifted column of ten is below 0.2
    assert rates.days == {0.0: 5, 0.5: 5, 1.0: 5}
    (candidate,) = [c for c in alarm.sweep(days, 10) if c.rule_fields() == rule]
    assert candidate.rates == rates
    # The second-largest score / threshold decides at share 0.2: 0.01 / 0.05 on normal days,
    # 0.3 / 0.05 on strong-drift days.
    assert candidate.normal_margin == pytest.approx(1 / (0.01 / 0.05))
    assert candidate.strong_margin == pytest.approx(0.3 / 0.05)


def test_the_chosen_rule_meets_the_targets_and_catches_the_weak_drift(days: alarm.Days) -> None:
    ranked = alarm.choose(alarm.sweep(days, 10), strong=1.0)
    best = ranked[0]
    assert best.distances
    assert best.rates.alarms == {0.0: 0, 0.5: 5, 1.0: 5}  # share 0.1: one column suffices here
    assert best.drift_share == pytest.approx(0.1)
    assert min(best.normal_margin, best.strong_margin) >= alarm.MARGIN
    # every p-value rule ranks after every distance rule
    first_p = next(i for i, c in enumerate(ranked) if not c.distances)
    assert all(c.distances for c in ranked[:first_p]) and not any(c.distances for c in ranked[first_p:])


def test_flags_follow_each_method_s_direction() -> None:
    scores = np.array([0.01, 0.05, 0.2])
    assert alarm._flags("psi", scores, 0.05).tolist() == [False, True, True]
    assert alarm._flags("ks", scores, 0.05).tolist() == [True, True, False]  # p <= threshold
    assert alarm._flags("chisquare", scores, 0.05).tolist() == [True, False, False]  # p < threshold


def test_the_design_refuses_shared_seeds_and_odd_strengths() -> None:
    with pytest.raises(ValueError, match="must differ"):
        alarm.Design(calibration_seeds=(1, 2), holdout_seeds=(2, 3))
    with pytest.raises(ValueError, match="strengths"):
        alarm.Design(strengths=(0.0, 1.0))
    design = alarm.Design(warmup_days=3, train_days=4, eval_days=2, strengths=(0.5,))
    assert design.schedule(0.5) == [0.0] * 7 + [0.5] * 2
    assert design.eval_dates() == ["2026-01-12", "2026-01-13"]


def test_the_section_is_replaced_in_place_and_kept_by_the_benchmark_merge() -> None:
    sized = "<!-- benchmarks:section events=5 -->\nA\n<!-- benchmarks:end events=5 -->\n"
    first = f"<!-- benchmarks:extra {alarm.SECTION} -->\nold\n<!-- benchmarks:extra-end {alarm.SECTION} -->\n"
    second = first.replace("old", "new")
    text = report.replace_extra(report.HEADER + "\n" + sized, alarm.SECTION, first)
    assert text.startswith(report.HEADER + "\n" + sized) and text.endswith(first)
    text = report.replace_extra(text, alarm.SECTION, second)
    assert "old" not in text and text.count("benchmarks:extra ") == 1
    merged = report.merge(text, 7, sized.replace("5", "7").replace("A", "C"))
    assert merged.index("events=5") < merged.index("events=7") < merged.index("new")
    assert merged.count("new") == 1


@pytest.mark.e2e
def test_a_tiny_alarm_run_records_every_day_and_writes_its_section(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text(
        report.HEADER + "\n<!-- benchmarks:section events=5 -->\nkept\n<!-- benchmarks:end events=5 -->\n"
    )
    command = [
        sys.executable, "-m", "benchmarks.alarm", "--calibration-seeds", "3", "--holdout-seeds", "4",
        "--events", "1500", "--warmup-days", "2", "--train-days", "4", "--eval-days", "2",
        "--strengths", "1,2", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--csv-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    days = pd.read_csv(tmp_path / "alarm_days.csv")
    assert len(days) == 2 * 3 * 2  # seeds x (no drift, 1, 2) x evaluation days
    assert sorted(days["strength"].unique()) == [0.0, 1.0, 2.0]
    assert set(days["split"]) == {"calibration", "held-out"}
    n_drifted = days["drifted_columns"].fillna("").str.split().str.len()
    assert np.allclose(days["drift_share"], n_drifted / 10)
    assert (days["dataset_drift"] == (days["drift_share"] >= 0.2)).all()  # DEFAULT_DRIFT_RULE's share
    scores = pd.read_csv(tmp_path / "alarm_scores.csv")
    assert len(scores) == len(days) * 10

    # The reference is train_model's, on the seed's training days.
    from platform_assets.lib.ml.training import train_model

    features = next((tmp_path / "cache").glob("*/features-seed3.parquet"))
    frame = pd.read_parquet(features)
    train = frame[(frame["strength"] == 0.0) & (frame["event_date"] < "2026-01-11")].drop(columns="strength")
    reference = train_model(train.reset_index(drop=True), kind="logreg").reference
    dates = pd.to_datetime(reference["event_date"]).dt.strftime("%Y-%m-%d")
    assert (days.loc[days["seed"] == 3, "reference_rows"] == len(reference)).all()
    assert (days.loc[days["seed"] == 3, "reference_days"] == f"{dates.min()}..{dates.max()}").all()

    text = out.read_text()
    assert "kept" in text and text.count("## drift alarm: false alarms and detection") == 1
    section = text[text.index(f"<!-- benchmarks:extra {alarm.SECTION} -->") :]
    rule_rows = [line for line in section.splitlines() if line.startswith("| **FIXED_THRESHOLD_RULE** |")]
    for split, rows in days.groupby("split"):
        (line,) = [r for r in rule_rows if f"| {split} |" in r]
        for strength, day_rows in rows.groupby("strength"):
            k, n = int(day_rows["dataset_drift"].sum()), len(day_rows)
            assert f"{k}/{n} = {100 * k / n:.1f}%" in line, (split, strength)

    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "built" not in again.stdout  # the days come from the cache
    assert out.read_text().count("## drift alarm") == 1
