"""Data drift between a reference sample and current data, judged with Evidently.

``compute_drift`` runs Evidently 0.7's ``DataDriftPreset``, saves its HTML and JSON reports
atomically and returns a plain, JSON-ready :class:`DriftSummary`; a :class:`DriftRule` says how a
day is judged (``DEFAULT_DRIFT_RULE``: ``benchmarks/RESULTS.md``, "drift alarm"). A rule with a
``false_alarm_rate`` gives each column a threshold for the day's sample size: the quantile of the
column's score between two samples of the reference and the day's sizes, drawn from the reference
(``null_threshold``), so that a day like the reference is flagged at that rate whatever its volume.
Columns empty on one side are left out of Evidently's run, and category values are HTML-escaped
before Evidently sees them. Evidently is imported inside the functions (the import takes seconds).
No Dagster here.

Design notes: docs/design/evidently_adapters.md
"""

from __future__ import annotations

import html
import math
import re
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
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

    With ``false_alarm_rate`` (methods ``wasserstein`` and ``psi`` only) the thresholds adapt to
    the sample sizes: each column's is the larger of the rule's (a floor: the smallest effect worth
    an alarm) and the ``1 - level`` quantile of its score between two samples drawn from the
    reference at the reference's and the day's sizes, with ``level = false_alarm_rate * k / n``
    for ``k`` columns needed of ``n``. A day like the reference then drifts with probability at
    most ``false_alarm_rate`` at any volume, however the columns depend on each other (Markov:
    P(count >= k) <= E[count] / k = n * level / k).
    """

    num_method: str | None
    num_threshold: float | None
    cat_method: str | None
    cat_threshold: float | None
    drift_share: float
    false_alarm_rate: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.drift_share <= 1.0:
            raise ValueError(f"drift_share must be in (0, 1], got {self.drift_share}")
        if self.false_alarm_rate is not None:
            if not (math.isfinite(self.false_alarm_rate) and 0.0 < self.false_alarm_rate < 1.0):
                raise ValueError(f"false_alarm_rate must be in (0, 1), got {self.false_alarm_rate}")
            if (self.num_method, self.cat_method) != ("wasserstein", "psi"):
                raise ValueError(
                    "thresholds for the sample size need num_method 'wasserstein' and cat_method 'psi', "
                    f"got {self.num_method!r} and {self.cat_method!r}"
                )
        for name in ("num_threshold", "cat_threshold"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def adapts_to_size(self) -> bool:
        return self.false_alarm_rate is not None

    def column_level(self, n_columns: int) -> float:
        """Each column's false-alarm probability that keeps the day's at ``false_alarm_rate``."""
        if self.false_alarm_rate is None:
            raise ValueError("a rule with fixed thresholds has no column level")
        return self.false_alarm_rate * columns_needed(self.drift_share, n_columns) / n_columns


def columns_needed(drift_share: float, n_columns: int) -> int:
    """The fewest drifted columns whose share reaches ``drift_share`` (as ``compute_drift`` decides)."""
    return max(1, math.ceil(drift_share * n_columns - 1e-9))


# Evidently's own defaults, as the platform used them before the calibration.
EVIDENTLY_DEFAULT_RULE = DriftRule(None, None, None, None, drift_share=0.5)
# Fixed thresholds, calibrated by the issue-7 `python -m benchmarks.alarm` on days of ~360 feature
# rows (5,000 events a day): right at that volume only (37.5% false alarms at 2,000 events a day).
FIXED_THRESHOLD_RULE = DriftRule("wasserstein", 0.2, "psi", 0.05, drift_share=0.2)
# Thresholds for each day's sample size (benchmarks/RESULTS.md, "drift alarm"): 2 of the 10 monitored
# columns (the share the retraining trigger uses), a daily false-alarm budget of 5% (so each column
# at level 1%), and floors at half the fixed rule's thresholds: below them a shift is too small to
# act on, however many rows prove it (big days would otherwise flag weekday-sized wobbles).
DEFAULT_DRIFT_RULE = DriftRule("wasserstein", 0.1, "psi", 0.025, drift_share=0.2, false_alarm_rate=0.05)
# Resamples of each column's null distribution (999: the 1% level is the 10th largest, an exact
# Monte Carlo test), from a fixed seed so a day's verdict is reproducible.
NULL_RESAMPLES = 999
NULL_SEED = 20_15


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
    # (reference, current) non-null values each column was judged on; None: left out (empty)
    column_sample_sizes: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    column_level: float | None = None  # each column's false-alarm level, when thresholds adapt

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
            "column_sample_sizes": {
                k: None if v is None else list(v) for k, v in self.column_sample_sizes.items()
            },
            "column_level": self.column_level,
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

    prepared_reference = _prepared(reference, run_numerical, run_categorical)
    prepared_current = _prepared(current, run_numerical, run_categorical)
    sizes = {
        c: (len(_clean(prepared_reference[c])), len(_clean(prepared_current[c])))
        for c in (*run_numerical, *run_categorical)
    }
    per_column = None
    level = None
    if rule.adapts_to_size:
        level = rule.column_level(len(columns))
        per_column = {
            c: null_threshold(
                _clean(prepared_reference[c]),
                sizes[c][1],
                "wasserstein" if c in run_numerical else "psi",
                level,
                floor=(rule.num_threshold if c in run_numerical else rule.cat_threshold) or 0.0,
                seed=(NULL_SEED, zlib.crc32(c.encode())),
            )
            for c in sizes
        }
    snapshot = _run_evidently(
        prepared_reference, prepared_current, run_numerical, run_categorical, rule, per_column
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
        column_sample_sizes={c: sizes.get(c) for c in columns},
        column_level=level,
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
            r, c = _clean(ref[column]), _clean(cur[column])
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


def null_threshold(
    reference: pd.Series | np.ndarray,
    current_size: int,
    method: str,
    level: float,
    floor: float = 0.0,
    resamples: int = NULL_RESAMPLES,
    seed: Any = NULL_SEED,
) -> float:
    """The score above which a column drifts at ``level`` for a day of ``current_size`` values.

    Draws ``resamples`` pairs of samples from ``reference``'s values, of its own size and of
    ``current_size`` (with replacement: what two samples of the reference's population look like),
    scores each pair as Evidently does (``wasserstein``: normed Wasserstein; ``psi``: PSI of the
    categories), and returns the smallest float above the ``ceil((1 - level) (resamples + 1))``-th
    smallest score (a Monte Carlo test: a day like the reference passes it with probability at
    most ``level``), or ``floor`` if larger. Deterministic for a given ``seed``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rank = math.ceil((1.0 - level) * (resamples + 1))
    if rank > resamples:
        raise ValueError(f"{resamples} resamples cannot resolve level {level}")
    scores = null_scores(reference, current_size, method, resamples, seed)
    quantile = float(np.sort(scores)[rank - 1])
    return max(float(floor), float(np.nextafter(quantile, np.inf)))


def score(reference: pd.Series, current: pd.Series, method: str) -> float:
    """One column's score as Evidently computes it (``wasserstein``: normed Wasserstein of numbers;
    ``psi``: PSI of categories), without a report: for experiments over many days."""
    r, c = _clean(pd.Series(reference)), _clean(pd.Series(current))
    if method == "wasserstein":
        from scipy import stats

        r, c = r.to_numpy(dtype=float), c.to_numpy(dtype=float)
        return float(stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001))
    if method == "psi":
        keys = pd.Index(pd.unique(pd.concat([r, c], ignore_index=True)))
        ref = r.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy(dtype=float)
        cur = c.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy(dtype=float)
        ref, cur = np.where(ref == 0, 0.0001, ref), np.where(cur == 0, 0.0001, cur)
        return float(np.sum((ref - cur) * np.log(ref / cur)))
    raise ValueError(f"no score for method {method!r} (wasserstein or psi)")


def null_scores(
    reference: pd.Series | np.ndarray, current_size: int, method: str, resamples: int, seed: Any
) -> np.ndarray:
    """``resamples`` scores between a reference-sized and a ``current_size`` sample of ``reference``."""
    values = pd.Series(np.asarray(reference)).dropna()
    if values.empty or current_size < 1:
        raise ValueError("a null distribution needs reference values and a current size of at least 1")
    counts = values.value_counts(sort=False)
    if method == "wasserstein":
        counts = counts.sort_index()
    elif method != "psi":
        raise ValueError(f"no null distribution for method {method!r} (wasserstein or psi)")
    rng = np.random.default_rng(seed)
    ref = _resampled_shares(rng, counts.to_numpy(), len(values), resamples)
    cur = _resampled_shares(rng, counts.to_numpy(), current_size, resamples)
    if method == "psi":  # Evidently's categorical PSI: an empty category counts 0.0001
        ref, cur = np.where(ref == 0, 0.0001, ref), np.where(cur == 0, 0.0001, cur)
        return np.sum((ref - cur) * np.log(ref / cur), axis=1)
    points = counts.index.to_numpy(dtype=float)
    gaps = np.diff(points)  # W1 = integral of |F_ref - F_cur| between consecutive values
    distance = np.abs(np.cumsum(ref, axis=1)[:, :-1] - np.cumsum(cur, axis=1)[:, :-1]) @ gaps
    mean = ref @ points
    std = np.sqrt(np.maximum(ref @ points**2 - mean**2, 0.0))
    return distance / np.maximum(std, 0.001)


def _resampled_shares(rng: np.random.Generator, counts: np.ndarray, size: int, resamples: int) -> np.ndarray:
    """Shares of each value in ``resamples`` samples of ``size`` drawn with replacement from values
    with these ``counts``: multinomial draws for few values, drawn rows counted for many (faster)."""
    total = int(counts.sum())
    if len(counts) <= 64:
        return rng.multinomial(size, counts / total, size=resamples) / size
    codes = np.repeat(np.arange(len(counts)), counts)[rng.integers(0, total, (resamples, size))]
    codes += np.arange(resamples)[:, None] * len(counts)
    drawn = np.bincount(codes.ravel(), minlength=resamples * len(counts))
    return drawn.reshape(resamples, len(counts)) / size


def _clean(column: pd.Series) -> pd.Series:
    """A column as Evidently's get_one_column_drift cleans it before its test."""
    return column.replace([-np.inf, np.inf], np.nan).dropna()


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
    per_column_threshold: dict[str, float] | None = None,
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
        per_column_threshold=per_column_threshold,
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
