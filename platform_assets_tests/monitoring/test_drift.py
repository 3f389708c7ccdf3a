"""``lib/drift.py``: Evidently's data drift on samples with and without planted shifts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from platform_assets.lib.drift import DriftSummary, compute_drift

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


def run(reference: pd.DataFrame, current: pd.DataFrame, folder: Path) -> DriftSummary:
    return compute_drift(
        reference, current, NUMERICAL, CATEGORICAL, folder / "drift.html", folder / "drift.json"
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
    assert summary.column_methods["device"] == "Jensen-Shannon distance"


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
    assert summary.dataset_drift is False  # 2 of 5 < 0.5
    assert summary.column_scores["latency"] is None
    assert summary.column_methods["latency"] == "all null in current"
    assert summary.column_scores["amount"] is not None
    assert summary.html_path.exists()
    json.dumps(summary.as_dict())
