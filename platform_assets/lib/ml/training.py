"""Train a conversion model on the session features and measure it honestly: one template, two backends.

The template (:func:`run_training`) is the same for every trainer: validate the table, split it by
time (the last days are held out), plan a validation period at the end of the training days,
fit each candidate of the families there and keep the best, refit it on every training day,
score it on the held-out rows against a prior-only baseline, keep a reference sample. A
backend (:mod:`~platform_assets.lib.ml.sklearn_backend`, :mod:`~platform_assets.lib.ml.spark_backend`)
implements only what differs: how rows are summarised, split, fitted and scored.
:func:`train_model` and :func:`train_model_spark` are the entry points. No Dagster here.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from platform_assets.lib.ml.data_checks import DAY, TrainingDataError, check_profile, check_split, profile_of
from platform_assets.lib.ml.families import SEARCH, Candidate, resolve
from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec
from platform_assets.lib.ml.features import prepare_features
from platform_assets.lib.ml.metrics import assemble_metrics, evaluate_probabilities, score_probabilities
from platform_assets.lib.ml.search import (
    DEFAULT_MAX_CANDIDATES,
    SearchSettings,
    candidate_record,
    choose_candidate,
    search_candidates,
    search_summary,
)
from platform_assets.lib.ml.sklearn_backend import SklearnBackend, build_pipeline
from platform_assets.lib.ml.spark_backend import SPARK_MAX_CANDIDATES, SparkBackend
from platform_assets.lib.ml.time_split import (
    TimeSplit,
    ValidationPlan,
    describe_split,
    holdout_start,
    plan_validation,
)

__all__ = [  # what callers import from here
    "FEATURE_SPEC",
    "SEARCH",
    "TrainingDataError",
    "TrainingResult",
    "build_pipeline",
    "code_version",
    "prepare_features",
    "run_training",
    "train_model",
    "train_model_spark",
]

log = logging.getLogger(__name__)

# The modules whose code makes a model: their hash is the card's ``code_version``.
TRAINING_MODULES = (
    "training.py",
    "families.py",
    "features.py",
    "data_checks.py",
    "time_split.py",
    "search.py",
    "metrics.py",
    "sklearn_backend.py",
    "spark_backend.py",
)


def code_version() -> str:
    """Short hash of the training code: changes with it."""
    digest = hashlib.sha256()
    for name in TRAINING_MODULES:
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class TrainingResult:
    """A fitted pipeline (scikit-learn, or a Spark ML ``PipelineModel``) with its held-out metrics
    and a sample of what it was trained on."""

    pipeline: Any
    metrics: dict[str, Any]
    split: TimeSplit
    reference: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """Card fields for ``ModelStore.save`` / ``save_spark``: params, training data, code
        version, and every candidate of the search."""
        return {
            "params": self.params,
            "training_data": self.split.as_dict(),
            "code_version": code_version(),
            "candidates": self.candidates,
        }


class CandidateFitter(Protocol):
    """Fits candidates on the fit days and scores them on the validation days."""

    def fit(self, candidate: Candidate, rows: int) -> Any: ...
    def probabilities(self, model: Any) -> tuple[np.ndarray, np.ndarray]: ...


class TrainingBackend(Protocol):
    """What differs between trainers. ``table`` is whatever holds the rows (pandas, Spark)."""

    name: str  # params["trainer"]
    spark: bool  # True: only the families available on Spark ML

    def open(self, features: Any) -> AbstractContextManager[Any]: ...  # checks columns, adds DAY
    def day_table(self, table: Any) -> pd.DataFrame: ...  # see data_checks
    def split(self, table: Any, start: pd.Timestamp) -> tuple[Any, Any]: ...  # before / from start
    def hyperparams(self, candidate: Candidate) -> Mapping[str, Any]: ...
    def estimator_params(self, candidate: Candidate, rows: int) -> dict[str, Any]: ...
    def candidate_fitter(
        self, fit_part: Any, validation_part: Any
    ) -> AbstractContextManager[CandidateFitter]: ...
    def fit(self, candidate: Candidate, train: Any, rows: int) -> Any: ...
    def probabilities(self, model: Any, part: Any) -> tuple[np.ndarray, np.ndarray]: ...
    def threshold_sample(self, train: Any, rows: int) -> Any: ...  # rows the F1 threshold is tuned on
    def reference_sample(self, recent: Any, available: int, rows: int) -> pd.DataFrame: ...
    def params(self, chosen: Candidate, train_rows: int) -> dict[str, Any]: ...  # trainer's own params


@dataclass(frozen=True)
class TrainingSettings:
    """Everything the template takes besides the rows and the backend."""

    search: SearchSettings
    holdout_days: int | None = None
    holdout_fraction: float = 0.25
    seed: int = 0
    spec: FeatureSpec = FEATURE_SPEC
    min_rows: int = 200
    reference_rows: int = 5000
    reference_days: int | None = 7
    min_auc_margin: float = 0.02


@dataclass(frozen=True)
class _CheckedTable:
    """The validated table summarised per day, and where its holdout starts."""

    days: pd.DataFrame
    counts: pd.Series  # rows per day
    cutoff: pd.Timestamp  # the first held-out day
    split: TimeSplit

    def training_days(self) -> tuple[pd.Series, pd.Series]:
        """Rows and positives per training day."""
        train = self.days[self.days[DAY] < self.cutoff]
        return self.counts[self.counts.index < self.cutoff], train.set_index(DAY)["positives"]


class _Clock:
    """Seconds spent in each step, for one log line."""

    def __init__(self) -> None:
        self.last, self.laps = time.perf_counter(), {}

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.laps[name], self.last = now - self.last, now
        return self.laps[name]


def run_training(backend: TrainingBackend, features: Any, settings: TrainingSettings) -> TrainingResult:
    """The ten steps, the same for every backend (see the module doc)."""
    settings.search.check()
    families = resolve(settings.search.kind, spark=backend.spark)
    candidates = search_candidates(
        settings.search.kind, settings.search.max_candidates, settings.seed, spark=backend.spark
    )
    clock = _Clock()
    with backend.open(features) as table:
        checked = _validated_split(backend, table, settings)
        train, holdout = backend.split(table, checked.cutoff)
        clock.lap("profile+split")
        records, chosen, plan = _search(backend, train, checked, candidates, settings.search)
        search = search_summary(settings.search, families, candidates, plan, clock.lap("search"))
        model = backend.fit(chosen, train, checked.split.train_rows)
        clock.lap("fit")
        metrics = _holdout_metrics(backend, model, train, holdout, checked, settings.min_auc_margin)
        clock.lap("score+metrics")
        reference = _reference(backend, train, checked, settings)
        clock.lap("reference")
    log.info(
        "%s %s: %s (%d candidates)",
        backend.name,
        settings.search.kind,
        ", ".join(f"{name} {seconds:.1f}s" for name, seconds in clock.laps.items()),
        len(records),
    )
    params = _params(backend, chosen, checked.split, settings, search)
    return TrainingResult(model, metrics, checked.split, reference, params, records)


def _validated_split(backend: TrainingBackend, table: Any, settings: TrainingSettings) -> _CheckedTable:
    """Refuse a table that cannot train a trustworthy model; find the first held-out day."""
    days = backend.day_table(table)
    profile, counts = profile_of(days, settings.spec)
    check_profile(profile, settings.spec, settings.min_rows)
    cutoff = holdout_start(counts, settings.holdout_days, settings.holdout_fraction)
    check_split(days, cutoff, settings.spec)
    return _CheckedTable(days, counts, cutoff, describe_split(counts, cutoff))


def _search(
    backend: TrainingBackend,
    train: Any,
    checked: _CheckedTable,
    candidates: list[Candidate],
    settings: SearchSettings,
) -> tuple[list[dict[str, Any]], Candidate, ValidationPlan]:
    """Fit every candidate on the fit days, score it on the validation days, choose; or, when the
    data holds no validation period, take the first candidate unselected (and say so)."""
    counts, positives = checked.training_days()
    plan = plan_validation(
        counts, positives, settings.validation_days, settings.validation_fraction, len(candidates)
    )
    if plan.start is None:
        if len(candidates) > 1:
            log.warning(
                "kind=%s: no model search (%s); fitting the first of %d candidates (%s)",
                settings.kind,
                plan.reason,
                len(candidates),
                candidates[0].family,
            )
        chosen = candidates[0]
        params = backend.estimator_params(chosen, checked.split.train_rows)
        record = candidate_record(0, chosen, backend.hyperparams(chosen), params, None, None)
        return [{**record, "chosen": True}], chosen, plan
    records = []
    fit_rows = plan.period["fit_rows"]
    with backend.candidate_fitter(*backend.split(train, plan.start)) as fitter:
        for index, candidate in enumerate(candidates):
            started = time.perf_counter()
            model = fitter.fit(candidate, fit_rows)
            seconds = time.perf_counter() - started
            scores = score_probabilities(*fitter.probabilities(model))
            params = backend.estimator_params(candidate, fit_rows)
            records.append(
                candidate_record(index, candidate, backend.hyperparams(candidate), params, scores, seconds)
            )
    return records, candidates[choose_candidate(records, settings.selection_metric)], plan


def _holdout_metrics(
    backend: TrainingBackend,
    model: Any,
    train: Any,
    holdout: Any,
    checked: _CheckedTable,
    min_auc_margin: float,
) -> dict[str, Any]:
    """The model and a prior-only baseline (every row gets the training positive rate) on the
    held-out rows; the F1 threshold is tuned on training rows only."""
    y_holdout, p_holdout = backend.probabilities(model, holdout)
    y_train, p_train = backend.probabilities(model, backend.threshold_sample(train, checked.split.train_rows))
    _, positives = checked.training_days()
    prior = float(positives.sum() / checked.split.train_rows)
    baseline = evaluate_probabilities(
        y_train, np.full(len(y_train), prior), y_holdout, np.full(len(y_holdout), prior)
    )
    return assemble_metrics(
        model=evaluate_probabilities(y_train, p_train, y_holdout, p_holdout),
        baseline=baseline,
        positive_rate_train=prior,
        positive_rate_holdout=float(y_holdout.mean()),
        split=checked.split,
        min_auc_margin=min_auc_margin,
        train=score_probabilities(y_train, p_train),
    )


def _reference(
    backend: TrainingBackend, train: Any, checked: _CheckedTable, settings: TrainingSettings
) -> pd.DataFrame:
    """The drift reference: a sample of the most recent training week. History features (prior
    sessions...) keep growing while the first weeks of history accumulate, and comparing a new
    day with the whole window would report that warm-up as drift."""
    first, last = pd.Timestamp(checked.split.train_start), pd.Timestamp(checked.split.train_end)
    if settings.reference_days:
        first = last - pd.Timedelta(days=settings.reference_days - 1)
    available = int(checked.counts[(checked.counts.index >= first) & (checked.counts.index <= last)].sum())
    _, recent = backend.split(train, first)
    return backend.reference_sample(recent, available, settings.reference_rows)


def _params(
    backend: TrainingBackend, chosen: Candidate, split: TimeSplit, settings: TrainingSettings, search: dict
) -> dict[str, Any]:
    return {
        "trainer": backend.name,
        "kind": chosen.family,  # the fitted family; the requested kind is search["kind"]
        "hyperparams": dict(backend.hyperparams(chosen)),
        "seed": settings.seed,
        "holdout_days": settings.holdout_days,
        "holdout_fraction": settings.holdout_fraction,
        **backend.params(chosen, split.train_rows),
        "reference_days": settings.reference_days,
        "categorical": list(settings.spec.categorical),
        "numeric": list(settings.spec.numeric),
        "label": settings.spec.label,
        "search": search,
    }


def train_model(
    features: pd.DataFrame,
    kind: str = SEARCH,
    holdout_days: int | None = None,
    holdout_fraction: float = 0.25,
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    min_rows: int = 200,
    reference_rows: int = 5000,
    reference_days: int | None = 7,
    min_auc_margin: float = 0.02,
    min_frequency: int | float = 10,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    validation_days: int | None = None,
    validation_fraction: float = 0.25,
    selection_metric: str = "log_loss",
) -> TrainingResult:
    """Search on the earlier days, evaluate on the last ones, compare with a prior-only baseline
    (scikit-learn, in this process).

    ``holdout_days`` fixes how many of the last days are held out; otherwise the number of last
    days whose rows come closest to ``holdout_fraction`` of all rows (at least one day each side).
    ``kind`` is ``"search"`` (every family) or one family; at most ``max_candidates`` candidates
    are fitted on the training days before the validation period (``validation_days`` /
    ``validation_fraction`` of the training rows, same rule as the holdout) and scored on it; the
    best ``selection_metric`` is refitted on all training days.
    """
    search = SearchSettings(kind, max_candidates, selection_metric, validation_days, validation_fraction)
    settings = TrainingSettings(
        search,
        holdout_days,
        holdout_fraction,
        seed,
        spec,
        min_rows,
        reference_rows,
        reference_days,
        min_auc_margin,
    )
    return run_training(SklearnBackend(spec, seed, min_frequency), features, settings)


def train_model_spark(
    features: Any,
    kind: str = SEARCH,
    holdout_days: int | None = None,
    holdout_fraction: float = 0.25,
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    min_rows: int = 200,
    reference_rows: int = 5000,
    reference_days: int | None = 7,
    min_auc_margin: float = 0.02,
    threshold_rows: int = 1_000_000,
    max_iter: int | None = None,
    max_candidates: int = SPARK_MAX_CANDIDATES,
    validation_days: int | None = None,
    validation_fraction: float = 0.25,
    selection_metric: str = "log_loss",
) -> TrainingResult:
    """:func:`train_model` with Spark ML on a Spark DataFrame holding the spec's columns.

    The F1 threshold and ``metrics["train"]`` use at most ``threshold_rows`` training rows (a
    seeded sample beyond that), so the driver never holds more than that plus the holdout (and,
    while searching, the validation rows' labels and probabilities). ``max_iter`` overrides the
    classifier's iterations. Spark keeps every category (no ``min_frequency``).
    """
    search = SearchSettings(kind, max_candidates, selection_metric, validation_days, validation_fraction)
    settings = TrainingSettings(
        search,
        holdout_days,
        holdout_fraction,
        seed,
        spec,
        min_rows,
        reference_rows,
        reference_days,
        min_auc_margin,
    )
    return run_training(SparkBackend(spec, seed, max_iter, threshold_rows), features, settings)
