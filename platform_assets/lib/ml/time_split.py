"""Split by time: the last days are held out, and a validation period is carved from the end of
the training days (for the model search) by the same day-based rule. Everything here is computed
from rows per day, so both trainers split identically."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.lib.ml.data_checks import TrainingDataError


@dataclass(frozen=True)
class TimeSplit:
    """Which days and how many rows went to training and to the holdout."""

    train_start: str
    train_end: str
    holdout_start: str
    holdout_end: str
    train_rows: int
    holdout_rows: int
    train_days: int
    holdout_days: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def holdout_start(counts: pd.Series, holdout_days: int | None, holdout_fraction: float) -> pd.Timestamp:
    """The first held-out day, from the rows per day (index: days): ``holdout_days`` last days,
    or the number of last days whose rows come closest to ``holdout_fraction`` of all rows."""
    counts = counts.sort_index()
    n_days = len(counts)
    if holdout_days is None:
        if not 0 < holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
        held = counts[::-1].cumsum().to_numpy()[: n_days - 1] / counts.sum()
        holdout_days = int(np.argmin(np.abs(held - holdout_fraction))) + 1
    elif not 1 <= holdout_days < n_days:
        raise TrainingDataError(
            f"holdout_days={holdout_days} must leave at least one day on each side ({n_days} distinct days)"
        )
    return counts.index[n_days - holdout_days]


def describe_split(counts: pd.Series, cutoff: pd.Timestamp) -> TimeSplit:
    """Days and rows on each side of ``cutoff`` (the first held-out day), from rows per day."""
    counts = counts.sort_index()
    train, holdout = counts[counts.index < cutoff], counts[counts.index >= cutoff]

    def day(value: pd.Timestamp) -> str:
        return pd.Timestamp(value).date().isoformat()

    return TimeSplit(
        train_start=day(train.index.min()),
        train_end=day(train.index.max()),
        holdout_start=day(holdout.index.min()),
        holdout_end=day(holdout.index.max()),
        train_rows=int(train.sum()),
        holdout_rows=int(holdout.sum()),
        train_days=len(train),
        holdout_days=len(holdout),
    )


@dataclass(frozen=True)
class ValidationPlan:
    """Where the validation period starts within the training days, or why there is none."""

    start: pd.Timestamp | None
    reason: str | None
    period: dict[str, Any] | None  # fit/validation days and rows

    def as_dict(self) -> dict[str, Any]:
        status = "skipped" if self.start is None else "searched"
        return {"status": status, "reason": self.reason, **(self.period or {})}


def plan_validation(
    counts: pd.Series,
    positives: pd.Series,
    validation_days: int | None,
    validation_fraction: float,
    candidates: int,
) -> ValidationPlan:
    """Carve the validation period from the end of the training days (rows and positives per
    training day, indexed by day), with the same day-based rule as :func:`holdout_start`.

    No search (``start`` None, ``reason`` says why) for a single candidate, fewer than two
    training days, an explicit ``validation_days`` leaving no fit day, or a part with one class.
    """
    counts = counts.sort_index()
    positives = positives.reindex(counts.index, fill_value=0)
    if candidates < 2:
        return ValidationPlan(None, "a single candidate: nothing to select", None)
    if len(counts) < 2:
        return ValidationPlan(None, f"{len(counts)} training day: no day left for validation", None)
    if validation_days is not None and not 1 <= validation_days < len(counts):
        return ValidationPlan(
            None,
            f"validation_days={validation_days} leaves no fit day ({len(counts)} training days)",
            None,
        )
    start = holdout_start(counts, validation_days, validation_fraction)
    split = describe_split(counts, start)
    period = {
        "fit_start": split.train_start,
        "fit_end": split.train_end,
        "validation_start": split.holdout_start,
        "validation_end": split.holdout_end,
        "fit_rows": split.train_rows,
        "validation_rows": split.holdout_rows,
        "fit_days": split.train_days,
        "validation_days": split.holdout_days,
    }
    is_validation = counts.index >= start
    for name, part in (("fit", ~is_validation), ("validation", is_validation)):
        rows, positive = int(counts[part].sum()), int(positives[part].sum())
        if positive in (0, rows):
            return ValidationPlan(None, f"the {name} days hold a single class ({rows} rows)", period)
    return ValidationPlan(start, None, period)
