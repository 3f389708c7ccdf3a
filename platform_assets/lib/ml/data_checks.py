"""Refuse a feature table that cannot train a trustworthy model, with the same rules for every trainer.

Both trainers summarise their table as a *day table* (one small row per day, null day included:
``rows``, ``null_times``, ``positives``, ``negatives``, ``invalid_labels`` and ``nonnull_<i>`` for
the spec's ``i``-th feature) and the checks read only that, so a Spark table is scanned once and
only the summary reaches the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from platform_assets.lib.ml.feature_spec import FeatureSpec

DAY = "_day"  # the day table's day column (and the trainers' day column)


class TrainingDataError(ValueError):
    """The feature table cannot train a trustworthy model; the message says why."""


@dataclass(frozen=True)
class TableProfile:
    """What validation needs to know about a feature table, whatever holds it (pandas, Spark)."""

    rows: int
    null_times: int
    invalid_labels: int  # null, or neither 0 nor 1
    empty_features: tuple[str, ...]  # feature columns null in every row
    days: int  # distinct days of the time column


def check_columns(columns: list[str] | tuple[str, ...], spec: FeatureSpec) -> None:
    missing = [c for c in spec.required if c not in columns]
    if missing:
        raise TrainingDataError(f"feature table is missing columns: {missing}")


def profile_of(days: pd.DataFrame, spec: FeatureSpec) -> tuple[TableProfile, pd.Series]:
    """The validation profile and rows per day (index: day Timestamps, ascending) of a day table."""
    dated = days[days[DAY].notna()]
    counts = pd.Series(
        dated["rows"].to_numpy(dtype="int64"), index=pd.DatetimeIndex(dated[DAY]), name="count"
    ).sort_index()
    profile = TableProfile(
        rows=int(days["rows"].sum()),
        null_times=int(days["null_times"].sum()),
        invalid_labels=int(days["invalid_labels"].sum()),
        empty_features=tuple(c for i, c in enumerate(spec.features) if days[f"nonnull_{i}"].sum() == 0),
        days=len(counts),
    )
    return profile, counts


def check_profile(profile: TableProfile, spec: FeatureSpec, min_rows: int) -> None:
    """Refuse a table that cannot train a trustworthy model (same rules for every trainer)."""
    if profile.rows < min_rows:
        raise TrainingDataError(f"too few rows to train: {profile.rows} (minimum {min_rows})")
    if profile.null_times:
        raise TrainingDataError(f"{spec.time_column} is null in some rows")
    if profile.invalid_labels:
        raise TrainingDataError(f"{spec.label} must be 0 or 1 in every row")
    if profile.empty_features:
        raise TrainingDataError(f"feature columns entirely null: {list(profile.empty_features)}")
    if profile.days < 2:
        raise TrainingDataError(
            f"need at least 2 distinct {spec.time_column} values for a time split, got {profile.days}"
        )


def check_split(days: pd.DataFrame, cutoff: pd.Timestamp, spec: FeatureSpec) -> None:
    """Both sides of ``cutoff`` (the first held-out day) hold both classes; no feature is entirely
    null in the training rows."""
    is_holdout = days[DAY] >= cutoff
    classes, rows = {}, {}
    for name, part in (("training", days[~is_holdout]), ("holdout", days[is_holdout])):
        classes[name] = [y for y, column in ((0, "negatives"), (1, "positives")) if part[column].sum() > 0]
        rows[name] = int(part["rows"].sum())
    train = days[~is_holdout]
    empty = [c for i, c in enumerate(spec.features) if train[f"nonnull_{i}"].sum() == 0]
    check_split_classes(classes, rows, empty, spec)


def check_split_classes(
    classes: dict[str, list[int]], rows: dict[str, int], empty_train_features: list[str], spec: FeatureSpec
) -> None:
    """Both parts of the split hold both classes; no feature is entirely null in training rows.

    ``classes`` and ``rows`` are keyed by ``"training"`` and ``"holdout"``.
    """
    for name in ("training", "holdout"):
        if len(classes[name]) < 2:
            raise TrainingDataError(
                f"{name} rows hold a single class ({spec.label}={classes[name][0]} in all "
                f"{rows[name]} rows); need both 0 and 1"
            )
    if empty_train_features:
        raise TrainingDataError(
            f"feature columns entirely null in the training rows: {list(empty_train_features)}"
        )
