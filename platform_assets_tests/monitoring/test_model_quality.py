"""``lib/ml/model_quality.py``: prediction drift and classification quality read from Evidently,
checked against scikit-learn computed independently."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from platform_assets.lib.ml.model_quality import (
    ModelReport,
    calibration_summary,
    compute_model_report,
    heldout_reference,
    trigger_metadata,
)
from platform_assets.lib.ml.retraining import RetrainPolicy

THRESHOLD = 0.5


def scored(rows: int, seed: int, shift: float = 0.0, positive_rate: float = 0.3) -> pd.DataFrame:
    """Labels and probabilities that separate them imperfectly; ``shift`` moves every probability."""
    rng = np.random.default_rng(seed)
    label = (rng.random(rows) < positive_rate).astype("int64")
    prediction = np.clip(0.3 + 0.3 * label + shift + rng.normal(0, 0.15, rows), 0, 1)
    prediction[:4] = THRESHOLD  # ties at the threshold count as positive, as in Evidently
    return pd.DataFrame({"prediction": prediction, "label": label})


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return scored(600, seed=0)


def run(reference: pd.DataFrame, current: pd.DataFrame, folder: Path, name: str = "day", **kwargs):
    return compute_model_report(
        reference, current, folder / f"{name}.html", folder / f"{name}.json", **kwargs
    )


def sklearn_quality(frame: pd.DataFrame, threshold: float = THRESHOLD) -> dict[str, float | None]:
    y, p = frame["label"].astype(int), frame["prediction"]
    predicted = (p >= threshold).astype(int)
    return {
        "roc_auc": metrics.roc_auc_score(y, p) if y.nunique() == 2 else None,
        "log_loss": metrics.log_loss(y, p, labels=[0, 1]),
        "precision": metrics.precision_score(y, predicted, zero_division=0),
        "recall": metrics.recall_score(y, predicted, zero_division=0),
        "f1": metrics.f1_score(y, predicted, zero_division=0),
        "accuracy": metrics.accuracy_score(y, predicted),
    }


def assert_quality(found: dict, expected: dict, skip: tuple[str, ...] = ()) -> None:
    for name, value in expected.items():
        if name not in skip:
            assert found[name] == pytest.approx(value, abs=1e-9), name


def test_same_distribution_is_not_flagged(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = scored(400, seed=1)
    report = run(reference, current, tmp_path)
    assert report.prediction_drifted is False
    assert 0 <= report.prediction_drift_score < report.prediction_drift_threshold
    assert (report.prediction_drift_method, report.prediction_drift_threshold) == ("psi", 0.1)
    assert report.reference_mean_prediction == pytest.approx(reference["prediction"].mean())
    assert report.current_mean_prediction == pytest.approx(current["prediction"].mean())
    assert (report.reference_rows, report.current_rows, report.labelled_rows) == (600, 400, 400)
    assert report.positive_rate == pytest.approx(current["label"].mean())
    assert report.quality_skipped_reason is None
    assert report.quality_notes == ()


def test_shifted_predictions_are_flagged(reference: pd.DataFrame, tmp_path: Path) -> None:
    report = run(reference, scored(400, seed=2, shift=0.2), tmp_path)
    assert report.prediction_drifted is True
    assert report.prediction_drift_score > report.prediction_drift_threshold
    wasserstein = run(
        reference, scored(400, seed=2, shift=0.2), tmp_path, "w", prediction_drift_method="wasserstein"
    )
    assert (wasserstein.prediction_drift_method, wasserstein.prediction_drifted) == ("wasserstein", True)
    strict = run(
        reference, scored(400, seed=1), tmp_path, "strict", prediction_drift_threshold=1e-6
    )  # any difference at all is drift under this threshold
    assert (strict.prediction_drift_threshold, strict.prediction_drifted) == (1e-6, True)


def test_quality_equals_sklearn(reference: pd.DataFrame, tmp_path: Path) -> None:
    names = {"prediction": "p_convert", "label": "converted"}
    current = scored(400, seed=3)
    current.loc[:5, "prediction"] = 0.4  # ties at this threshold
    report = run(
        reference.rename(columns=names),
        current.rename(columns=names),
        tmp_path,
        prediction="p_convert",
        target="converted",
        threshold=0.4,
    )
    expected = sklearn_quality(current, 0.4)
    assert report.quality is not None
    assert (report.quality["threshold"], report.quality["rows"]) == (0.4, 400)
    assert_quality(report.quality, expected)
    assert report.quality["reference_quality"] is None  # no held-out reference given


def test_partly_labelled_day_scores_labelled_rows_and_drifts_all(
    reference: pd.DataFrame, tmp_path: Path
) -> None:
    current = scored(400, seed=4, shift=0.03)
    partial = current.astype({"label": "float64"})
    partial.loc[:249, "label"] = np.nan
    report = run(reference, partial, tmp_path, "partial")
    full = run(reference, current, tmp_path, "full")

    assert (report.current_rows, report.labelled_rows) == (400, 150)
    assert report.prediction_drift_score == pytest.approx(full.prediction_drift_score, abs=1e-12)
    assert report.current_mean_prediction == pytest.approx(current["prediction"].mean())
    assert report.positive_rate == pytest.approx(current["label"].iloc[250:].mean())
    assert report.quality is not None and report.quality["rows"] == 150
    assert_quality(report.quality, sklearn_quality(current.iloc[250:]))
    assert report.quality_notes == ("quality on the 150 labelled rows of 400 (250 have no label yet)",)
    assert report.html_path.read_text(encoding="utf-8").count("<iframe") == 2
    kinds = [m["config"]["type"] for m in json.loads(report.json_path.read_text())["metrics"]]
    assert kinds[0].endswith(":ValueDrift") and any(k.endswith(":RocAuc") for k in kinds)


def test_day_without_labels_skips_quality(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = scored(300, seed=5).assign(label=None)
    report = run(reference, current, tmp_path)
    assert (report.labelled_rows, report.quality, report.positive_rate) == (0, None, None)
    assert report.quality_skipped_reason == "no labels yet for the 300 current rows"
    assert report.prediction_drifted is False
    kinds = [m["config"]["type"] for m in json.loads(report.json_path.read_text())["metrics"]]
    assert len(kinds) == 1 and kinds[0].endswith(":ValueDrift")


def test_one_class_day_records_why_roc_auc_is_missing(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = scored(300, seed=6)
    positives = current[current["label"] == 1].reset_index(drop=True)
    report = run(reference, positives, tmp_path)
    assert report.quality is not None and report.quality_skipped_reason is None
    assert report.quality["roc_auc"] is None
    n = len(positives)
    assert f"roc_auc undefined: the {n} labelled current rows are all of class 1" in report.quality_notes
    assert_quality(report.quality, sklearn_quality(positives), skip=("roc_auc",))

    negatives = current[current["label"] == 0].reset_index(drop=True)
    report = run(reference, negatives, tmp_path, "negatives")
    assert report.quality is not None
    assert (report.quality["roc_auc"], report.quality["recall"]) == (None, None)
    assert "recall undefined on current: no labelled row is positive" in report.quality_notes
    assert_quality(report.quality, sklearn_quality(negatives), skip=("roc_auc", "recall"))


def test_no_positive_prediction_leaves_precision_undefined(reference: pd.DataFrame, tmp_path: Path) -> None:
    def scaled(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(prediction=frame["prediction"] * 0.9)  # all below 0.95

    report = run(scaled(reference), scaled(scored(200, seed=7)), tmp_path, threshold=0.95)
    assert report.quality is not None
    assert report.quality["precision"] is None
    assert "precision undefined on current: no labelled row has a prediction >= 0.95" in report.quality_notes
    assert report.quality["recall"] == 0.0 and report.quality["roc_auc"] is not None


def test_reports_are_saved_and_a_second_leaves_the_first(reference: pd.DataFrame, tmp_path: Path) -> None:
    first = run(reference, scored(200, seed=8), tmp_path, "2024-01-01")
    html, document = first.html_path.read_bytes(), first.json_path.read_bytes()
    stamps = os.stat(first.html_path).st_mtime_ns, os.stat(first.json_path).st_mtime_ns
    assert len(html) > 1000 and html.lstrip().lower().startswith(b"<!doctype html")
    assert {m["id"] for m in json.loads(document)["metrics"]}

    second = run(reference, scored(200, seed=9, shift=0.2), tmp_path, "2024-01-02")
    assert second.html_path != first.html_path and second.json_path.exists()
    assert first.html_path.read_bytes() == html and first.json_path.read_bytes() == document
    assert (os.stat(first.html_path).st_mtime_ns, os.stat(first.json_path).st_mtime_ns) == stamps
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2024-01-01.html",
        "2024-01-01.json",
        "2024-01-02.html",
        "2024-01-02.json",
    ]  # no temporary file left behind

    plain = first.as_dict()
    assert json.loads(json.dumps(plain, allow_nan=False)) == plain
    assert plain["html_path"] == str(first.html_path) and isinstance(first, ModelReport)


GOOD = scored(50, seed=10)


@pytest.mark.parametrize(
    ("side", "frame", "message"),
    [
        ("current", GOOD.iloc[:0], "current data is empty"),
        ("reference", GOOD.iloc[:0], "reference data is empty"),
        ("current", GOOD.drop(columns="label"), "current data is missing columns: ['label']"),
        ("reference", GOOD.drop(columns="prediction"), "reference data is missing columns: ['prediction']"),
        ("current", GOOD.assign(prediction=GOOD["prediction"] + 0.5), "must be probabilities in [0, 1]"),
        ("current", GOOD.assign(prediction=-GOOD["prediction"] - 0.1), "must be probabilities in [0, 1]"),
        ("current", GOOD.assign(prediction=np.where(GOOD.index == 3, np.nan, 0.2)), "contain 1 null/NaN"),
        ("reference", GOOD.assign(prediction=np.inf), "must be probabilities in [0, 1]"),
        ("current", GOOD.assign(prediction="0.3"), "must be numeric"),
        ("current", GOOD.assign(label=np.where(GOOD.index == 7, 2, GOOD["label"])), "must be 0, 1 or null"),
        ("current", GOOD.assign(label="yes"), "must be 0, 1 or null: 50 are not, e.g. 'yes'"),
        ("reference", GOOD.assign(label=0.5), "must be 0, 1 or null"),
        ("reference", GOOD.assign(label=np.nan), "reference labels must not be null"),
        ("reference", GOOD.assign(label=1), "reference labels must contain both classes"),
    ],
)
def test_bad_input_is_refused(side: str, frame: pd.DataFrame, message: str, tmp_path: Path) -> None:
    reference, current = (frame, GOOD) if side == "reference" else (GOOD, frame)
    with pytest.raises(ValueError, match=re.escape(message)):
        run(reference, current, tmp_path)
    assert not any(tmp_path.iterdir())


def test_threshold_outside_unit_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"threshold must lie in \[0, 1\]"):
        run(GOOD, GOOD, tmp_path, threshold=1.5)


# -- calibration and the held-out reference ---------------------------------------------------------


def two_blocks(first_positives: int, second_positives: int) -> tuple[np.ndarray, np.ndarray]:
    """100 rows predicted 0.1 and 100 predicted 0.3, with the given positives in each block."""
    p = np.array([0.1] * 100 + [0.3] * 100)
    y = np.zeros(200, dtype=int)
    y[:first_positives] = 1
    y[100 : 100 + second_positives] = 1
    return y, p


def test_calibration_of_a_hand_made_day() -> None:
    # sum p = 100 * 0.1 + 100 * 0.3 = 40; sum p(1-p) = 100 * 0.09 + 100 * 0.21 = 30
    calibrated = calibration_summary(*two_blocks(10, 30))
    assert (calibrated["positives"], calibrated["expected_positives"]) == (40, pytest.approx(40))
    assert calibrated["variance"] == pytest.approx(30)
    assert calibrated["z"] == pytest.approx(0, abs=1e-12) and calibrated["p_value"] == pytest.approx(1)
    assert calibrated["ece"] == pytest.approx(0, abs=1e-12)

    halved = calibration_summary(*two_blocks(5, 15))
    assert halved["z"] == pytest.approx((20 - 40) / 30**0.5)  # -3.65
    assert halved["p_value"] == pytest.approx(2.6e-4, rel=0.01)  # two-sided normal tail at 3.651
    assert halved["observed_rate"] == 0.1 and halved["mean_prediction"] == pytest.approx(0.2)
    assert halved["difference"] == pytest.approx(-0.1)
    # reliability: hand count of the two blocks; ECE = (100 * 0.05 + 100 * 0.15) / 200
    assert [(b["lower"], b["rows"]) for b in halved["reliability"]] == [(0.1, 100), (0.3, 100)]
    assert [b["observed_rate"] for b in halved["reliability"]] == [0.05, 0.15]
    assert halved["ece"] == pytest.approx(0.1)
    # the interval's ends are the roots of (x - n q)^2 = z^2 n q (1 - q): Wilson's definition
    for end in ("difference_low", "difference_high"):
        q = halved[end] + halved["mean_prediction"]
        assert (20 - 200 * q) ** 2 == pytest.approx(1.959964**2 * 200 * q * (1 - q), rel=1e-5)
    assert halved["difference_low"] < -0.1 < halved["difference_high"] < 0


def test_reliability_table_counts_equal_a_hand_count() -> None:
    rng = np.random.default_rng(11)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    table = calibration_summary(y, p)["reliability"]
    for row in table:
        inside = [i for i in range(500) if row["lower"] <= p[i] < row["upper"]]
        assert row["rows"] == len(inside)
        assert row["observed_rate"] == pytest.approx(sum(y[i] for i in inside) / len(inside))
    assert sum(row["rows"] for row in table) == 500


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_labels_drawn_at_p_do_not_trigger_and_at_half_p_do(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.3, 1500)
    policy = RetrainPolicy(min_labelled_rows=200)  # the default level 0.01
    for labels, fires in (
        ((rng.random(1500) < p).astype(int), False),
        ((rng.random(1500) < p / 2).astype(int), True),
    ):
        summary = calibration_summary(labels, p)
        by_hand = (labels.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
        assert summary["z"] == pytest.approx(by_hand)
        metadata = {"labelled_rows": 1500, **trigger_metadata(summary, summary, ["2026-04-12"])}
        reason = policy.quality_reason(metadata)
        assert (reason is not None) is fires, (by_hand, reason)
        if fires:
            assert reason.startswith(f"calibration: {labels.sum()} positives vs {p.sum():.1f} predicted")
            assert f"z {by_hand:+.2f}" in reason


def test_the_reference_is_the_held_out_one(tmp_path: Path) -> None:
    """A champion trained and saved for real: the report's reference quality is its held-out rows'
    (recomputed here with scikit-learn), not its training rows', which differ."""
    from platform_assets.lib.ml.model_store import ModelStore
    from platform_assets.lib.ml.training import train_model
    from platform_assets_tests.models.test_training import synthetic_features

    features = synthetic_features(rows=2400, days=12, seed=5)
    result = train_model(features, kind="logreg", holdout_days=3)
    store = ModelStore(tmp_path / "models")
    version = store.save(result.pipeline, result.metrics, result.reference, result.info())
    heldout = heldout_reference(store.card(version.version))
    assert heldout is not None

    dates = pd.to_datetime(features["event_date"])
    held = features[dates >= pd.Timestamp(result.split.holdout_start)]
    trained = features[dates < pd.Timestamp(result.split.holdout_start)]
    p_held = result.pipeline.predict_proba(held)[:, 1]
    p_train = result.pipeline.predict_proba(trained)[:, 1]
    assert heldout["rows"] == len(held)
    assert heldout["observed_rate"] == pytest.approx(held["label"].mean())
    assert heldout["mean_prediction"] == pytest.approx(p_held.mean())
    assert heldout["log_loss"] == pytest.approx(metrics.log_loss(held["label"], p_held))
    assert heldout["roc_auc"] == pytest.approx(metrics.roc_auc_score(held["label"], p_held))
    assert heldout["log_loss"] != pytest.approx(metrics.log_loss(trained["label"], p_train), abs=1e-3)
    assert heldout["roc_auc"] != pytest.approx(metrics.roc_auc_score(trained["label"], p_train), abs=1e-3)
    assert sum(b["rows"] for b in heldout["reliability"]) == len(held)

    training_scores = pd.DataFrame({"prediction": p_train, "label": trained["label"].to_numpy()})
    day = scored(300, seed=12)
    report = run(training_scores, day, tmp_path, heldout=heldout)
    assert report.quality is not None and report.quality["reference_quality"] == heldout
    assert report.calibration is not None and report.calibration["rows"] == 300
    assert report.calibration["positives"] == int(day["label"].sum())
    assert report.as_dict()["quality"]["reference_quality"]["log_loss"] == heldout["log_loss"]


def test_a_card_without_held_out_metrics_gives_no_reference() -> None:
    assert heldout_reference({}) is None
    assert heldout_reference({"metrics": {"model": {"log_loss": 0.3}, "split": {"holdout_rows": 10}}}) is None
