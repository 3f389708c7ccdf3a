"""Data drift between a reference sample and current data, judged with Evidently.

``compute_drift`` runs Evidently 0.7's ``DataDriftPreset``, saves its HTML and JSON reports
atomically and returns a plain, JSON-ready :class:`DriftSummary`; a :class:`DriftRule` says how a
day is judged (``DEFAULT_DRIFT_RULE``: ``benchmarks/RESULTS.md``, "drift alarm"). Columns empty on
one side are left out of Evidently's run, and category values are HTML-escaped before Evidently
sees them. Evidently is imported inside the functions (the import takes seconds). No Dagster here.

Design notes: docs/design/evidently_adapters.md
"""

from __future__ import annotations

import html
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.lib.atomic import publish, staging_dir

_SAFE_COLUMN = re.compile(r"^[A-Za-z0-9_. -]+$")


@dataclass(frozen=True)
class DriftRule:
    """When a column drifted (Evidently method and threshold, per column type) and when the day did.

    A method of ``None`` lets Evidently choose by the reference size (above 1000 rows: normed
    Wasserstein for numbers, Jensen-Shannon for categories and for numbers with at most 5 distinct
    values; else K-S and chi-square); a threshold of ``None`` is the method's default. Distances
    drift at or above their threshold, p-values below it (``ks``: at or below). The day drifted
    when the share of drifted columns is at least ``drift_share``.
    """

    num_method: str | None
    num_threshold: float | None
    cat_method: str | None
    cat_threshold: float | None
    drift_share: float

    def __post_init__(self) -> None:
        if not 0.0 < self.drift_share <= 1.0:
            raise ValueError(f"drift_share must be in (0, 1], got {self.drift_share}")
        for name in ("num_threshold", "cat_threshold"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Evidently's own defaults, as the platform used them before the calibration.
EVIDENTLY_DEFAULT_RULE = DriftRule(None, None, None, None, drift_share=0.5)
# Calibrated by `python -m benchmarks.alarm` on days of ~360 feature rows against a ~2,500-row
# reference, 10 monitored columns (benchmarks/RESULTS.md, "drift alarm"): PSI of a category mix at
# least 0.05, normed Wasserstein of a number at least 0.2, and 2 of the 10 columns. Re-run the
# calibration when the monitored columns change (the share is of their number).
DEFAULT_DRIFT_RULE = DriftRule("wasserstein", 0.2, "psi", 0.05, drift_share=0.2)


@dataclass(frozen=True)
class DriftSummary:
    """What drifted, by how much, by which method, and where the reports are."""

    drift_share: float
    drifted_columns: tuple[str, ...]
    n_columns: int
    dataset_drift: bool
    drift_share_threshold: float  # = rule.drift_share
    column_scores: dict[str, float | None]
    column_methods: dict[str, str]
    column_thresholds: dict[str, float | None]
    empty_columns: tuple[str, ...]
    reference_rows: int
    current_rows: int
    html_path: Path
    json_path: Path
    rule: DriftRule

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
            "rule": self.rule.as_dict(),
        }


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    html_path: Path,
    json_path: Path,
    drift_share_threshold: float | None = None,
    rule: DriftRule = DEFAULT_DRIFT_RULE,
) -> DriftSummary:
    """Compare ``current`` with ``reference`` column by column as ``rule`` says; dataset drift when
    the share of drifted columns is at least ``rule.drift_share``. ``drift_share_threshold``, when
    given, replaces the rule's share (the argument callers passed before rules existed)."""
    if drift_share_threshold is not None:
        rule = replace(rule, drift_share=drift_share_threshold)
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
        rule,
    )
    _save_atomically(Path(html_path), snapshot.save_html)
    _save_atomically(Path(json_path), snapshot.save_json)

    count, scores, methods, thresholds, drifted = _parse_snapshot(snapshot.dict())
    if count != len(drifted):
        raise RuntimeError(
            f"Evidently counted {count} drifted columns but its column tests flag {sorted(drifted)}"
        )
    methods = _display_names(methods, run_numerical)
    for column in empty:
        scores[column], thresholds[column] = None, None
        methods[column] = empty[column]
    drifted_columns = tuple(c for c in columns if c in drifted or c in empty_drifted)
    share = len(drifted_columns) / len(columns)
    return DriftSummary(
        drift_share=share,
        drifted_columns=drifted_columns,
        n_columns=len(columns),
        dataset_drift=share >= rule.drift_share,
        drift_share_threshold=rule.drift_share,
        column_scores={c: scores[c] for c in columns},
        column_methods={c: methods[c] for c in columns},
        column_thresholds={c: thresholds[c] for c in columns},
        empty_columns=tuple(c for c in columns if c in empty),
        reference_rows=len(reference),
        current_rows=len(current),
        html_path=Path(html_path),
        json_path=Path(json_path),
        rule=rule,
    )


@dataclass(frozen=True)
class ColumnScore:
    """One column's drift score by one method (``None``: the method Evidently chose, ``resolved``)."""

    column: str
    method: str | None
    resolved: str
    score: float
    default_threshold: float
    drifted_at_default: bool  # Evidently's verdict at that threshold


def column_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    num_methods: Sequence[str | None] = (None,),
    cat_methods: Sequence[str | None] = (None,),
) -> list[ColumnScore]:
    """Every column's drift score by every given method, with Evidently's statistical tests on the
    data ``compute_drift`` gives them, but without a report: to sweep thresholds offline. Columns
    null on a side are left out."""
    _check_inputs(reference, current, numerical, categorical)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType

    ref, cur = _prepared(reference, numerical, categorical), _prepared(current, numerical, categorical)
    out = []
    for columns, kind, methods in (
        (numerical, ColumnType.Numerical, num_methods),
        (categorical, ColumnType.Categorical, cat_methods),
    ):
        for column in columns:
            # as Evidently's get_one_column_drift cleans a column before its test
            r = ref[column].replace([-np.inf, np.inf], np.nan).dropna()
            c = cur[column].replace([-np.inf, np.inf], np.nan).dropna()
            if r.empty or c.empty:
                continue
            for method in methods:
                test = get_stattest(r, c, kind, method)
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
                    result = test(r, c, kind, None)
                out.append(
                    ColumnScore(
                        column,
                        method,
                        test.name,
                        float(result.drift_score),
                        float(result.actual_threshold),
                        bool(result.drifted),
                    )
                )
    return out


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
    """Numbers as float64; categories as HTML-escaped strings (docs/design/evidently_adapters.md)."""
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
    rule: DriftRule,
) -> Any:
    with warnings.catch_warnings():  # its dependencies' deprecation notices, on every import
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(
        columns=[*numerical, *categorical],
        drift_share=rule.drift_share,
        num_method=rule.num_method,
        num_threshold=rule.num_threshold,
        cat_method=rule.cat_method,
        cat_threshold=rule.cat_threshold,
    )
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


def _display_names(methods: dict[str, str], numerical: list[str]) -> dict[str, str]:
    """Evidently's display name of each method ("PSI"); its snapshot records the short name
    ("psi") of a method that was asked for and the display name of one it chose itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently.legacy.calculations.stattests.registry import get_registered_stattest
        from evidently.legacy.core import ColumnType

    out = {}
    for column, method in methods.items():
        kind = ColumnType.Numerical if column in numerical else ColumnType.Categorical
        try:
            out[column] = get_registered_stattest(method, kind).display_name
        except ValueError:  # not a registered name: already a display name
            out[column] = method
    return out


def _save_atomically(path: Path, save: Callable[[str], None]) -> None:
    """Let Evidently write into a private temporary folder beside ``path``, then rename."""
    with staging_dir(path.parent, prefix=f"{path.name}") as staging:
        temp = staging / path.name
        save(str(temp))
        publish(temp, path)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value
