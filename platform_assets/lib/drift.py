"""Data drift between a reference sample and current data: the project's only Evidently adapter.

``compute_drift`` runs Evidently 0.7's ``DataDriftPreset``, saves its HTML and JSON reports
atomically and returns a plain, JSON-ready :class:`DriftSummary`. Evidently is imported inside
the function (the import takes seconds). No Dagster here.

Two things Evidently does not handle are handled here:

- a column with no value at all in one of the datasets makes Evidently raise ("An empty column
  ... was provided for drift calculation"), so such a column is left out of the Evidently run and
  reported in ``empty_columns``; it counts as drifted when only one side is empty;
- Evidently writes category values unescaped into a JSON blob inside an inline ``<script>`` of
  the HTML report, so a value such as ``</script><script>...`` would end that block and run as
  script. Category values are therefore HTML-escaped (``html.escape``, which is one-to-one and so
  leaves every drift statistic unchanged) before Evidently sees them.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from platform_assets.lib.atomic import publish, staging_dir

_SAFE_COLUMN = re.compile(r"^[A-Za-z0-9_. -]+$")


@dataclass(frozen=True)
class DriftSummary:
    """What drifted, by how much, by which method, and where the reports are."""

    drift_share: float
    drifted_columns: tuple[str, ...]
    n_columns: int
    dataset_drift: bool
    drift_share_threshold: float
    column_scores: dict[str, float | None]
    column_methods: dict[str, str]
    column_thresholds: dict[str, float | None]
    empty_columns: tuple[str, ...]
    reference_rows: int
    current_rows: int
    html_path: Path
    json_path: Path

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, str paths, None for missing or NaN scores)."""
        return {
            "drift_share": self.drift_share,
            "drifted_columns": list(self.drifted_columns),
            "n_columns": self.n_columns,
            "dataset_drift": self.dataset_drift,
            "drift_share_threshold": self.drift_share_threshold,
            "column_scores": {k: _finite(v) for k, v in self.column_scores.items()},
            "column_methods": dict(self.column_methods),
            "column_thresholds": {k: _finite(v) for k, v in self.column_thresholds.items()},
            "empty_columns": list(self.empty_columns),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "html_path": str(self.html_path),
            "json_path": str(self.json_path),
        }


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    html_path: Path,
    json_path: Path,
    drift_share_threshold: float = 0.5,
) -> DriftSummary:
    """Compare ``current`` with ``reference`` column by column; dataset drift when the share of
    drifted columns is at least ``drift_share_threshold``."""
    columns = [*numerical, *categorical]
    _check_inputs(reference, current, numerical, categorical)
    empty, empty_drifted = _empty_columns(reference, current, columns)
    run_numerical = [c for c in numerical if c not in empty]
    run_categorical = [c for c in categorical if c not in empty]
    if not run_numerical and not run_categorical:
        raise ValueError(f"no column has values in both reference and current data: {empty}")

    snapshot = _run_evidently(
        _prepared(reference, run_numerical, run_categorical),
        _prepared(current, run_numerical, run_categorical),
        run_numerical,
        run_categorical,
        drift_share_threshold,
    )
    _save_atomically(Path(html_path), snapshot.save_html)
    _save_atomically(Path(json_path), snapshot.save_json)

    count, scores, methods, thresholds, drifted = _parse_snapshot(snapshot.dict())
    if count != len(drifted):
        raise RuntimeError(
            f"Evidently counted {count} drifted columns but its column tests flag {sorted(drifted)}"
        )
    for column in empty:
        scores[column], thresholds[column] = None, None
        methods[column] = empty[column]
    drifted_columns = tuple(c for c in columns if c in drifted or c in empty_drifted)
    share = len(drifted_columns) / len(columns)
    return DriftSummary(
        drift_share=share,
        drifted_columns=drifted_columns,
        n_columns=len(columns),
        dataset_drift=share >= drift_share_threshold,
        drift_share_threshold=drift_share_threshold,
        column_scores={c: scores[c] for c in columns},
        column_methods={c: methods[c] for c in columns},
        column_thresholds={c: thresholds[c] for c in columns},
        empty_columns=tuple(c for c in columns if c in empty),
        reference_rows=len(reference),
        current_rows=len(current),
        html_path=Path(html_path),
        json_path=Path(json_path),
    )


def _check_inputs(
    reference: pd.DataFrame, current: pd.DataFrame, numerical: list[str], categorical: list[str]
) -> None:
    columns = [*numerical, *categorical]
    if not columns:
        raise ValueError("no columns to compare")
    if len(set(columns)) != len(columns):
        raise ValueError(f"a column is listed twice (or as numerical and categorical): {columns}")
    unsafe = [c for c in columns if not _SAFE_COLUMN.fullmatch(c)]
    if unsafe:
        raise ValueError(f"column names must match {_SAFE_COLUMN.pattern}: {unsafe}")
    for name, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise ValueError(f"{name} data is empty: drift needs at least one row on each side")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} data is missing columns: {missing}")


def _empty_columns(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]
) -> tuple[dict[str, str], set[str]]:
    """Columns entirely null on a side (name -> method label), and those that count as drift."""
    empty: dict[str, str] = {}
    drifted: set[str] = set()
    for column in columns:
        in_reference, in_current = reference[column].isna().all(), current[column].isna().all()
        if in_reference and in_current:
            empty[column] = "all null in reference and current"
        elif in_reference or in_current:
            empty[column] = "all null in " + ("reference" if in_reference else "current")
            drifted.add(column)
    return empty, drifted


def _prepared(frame: pd.DataFrame, numerical: list[str], categorical: list[str]) -> pd.DataFrame:
    """Numbers as float64; categories as HTML-escaped strings (see the module docstring)."""
    out = pd.DataFrame(index=frame.index)
    for column in numerical:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in categorical:
        escaped = frame[column].map(lambda value: html.escape(str(value)), na_action="ignore")
        out[column] = escaped.astype(object)
    return out.reset_index(drop=True)


def _run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    drift_share_threshold: float,
) -> Any:
    with warnings.catch_warnings():  # its dependencies' deprecation notices, on every import
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(columns=[*numerical, *categorical], drift_share=drift_share_threshold)
    with warnings.catch_warnings():
        # scipy's chi-square divides by zero for categories absent from one side; the test result
        # (an infinite statistic, p = 0) is what Evidently reports, the console warning adds nothing
        warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
        return Report([preset], include_tests=True).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )


def _parse_snapshot(
    snapshot: dict[str, Any],
) -> tuple[int, dict[str, float | None], dict[str, str], dict[str, float | None], set[str]]:
    """Drifted-column count, per-column score/method/threshold, and the columns whose Evidently
    drift test failed, from ``Snapshot.dict()``."""
    count = None
    scores: dict[str, float | None] = {}
    methods: dict[str, str] = {}
    thresholds: dict[str, float | None] = {}
    column_of: dict[str, str] = {}
    for metric in snapshot["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":DriftedColumnsCount"):
            count = int(metric["value"]["count"])
        elif kind.endswith(":ValueDrift"):
            column = metric["config"]["column"]
            column_of[metric["id"]] = column
            scores[column] = float(metric["value"])
            methods[column] = str(metric["config"]["method"])
            thresholds[column] = float(metric["config"]["threshold"])
    if count is None:
        raise RuntimeError("Evidently's snapshot has no DriftedColumnsCount metric")
    drifted = {
        column_of[test["metric_config"]["metric_id"]]
        for test in snapshot["tests"]
        if test["metric_config"]["metric_id"] in column_of and test["status"] == "FAIL"
    }
    return count, scores, methods, thresholds, drifted


def _save_atomically(path: Path, save: Callable[[str], None]) -> None:
    """Let Evidently write into a private temporary folder beside ``path``, then rename."""
    with staging_dir(path.parent, prefix=f"{path.name}") as staging:
        temp = staging / path.name
        save(str(temp))
        publish(temp, path)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value
