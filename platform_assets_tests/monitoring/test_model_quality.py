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

from platform_assets.lib.ml.model_quality import ModelReport, compute_model_report

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
    assert report.quality["reference_quality"]["rows"] == 600
    assert_quality(report.quality["reference_quality"], sklearn_quality(reference, 0.4))
    assert report.quality["roc_auc"] != report.quality["reference_quality"]["roc_auc"]


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
    assert_quality(report.quality["reference_quality"], sklearn_quality(reference))

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
    assert report.quality["reference_quality"]["precision"] is None
    for side in ("current", "reference"):
        note = f"precision undefined on {side}: no labelled row has a prediction >= 0.95"
        assert note in report.quality_notes
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
