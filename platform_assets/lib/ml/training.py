"""Train a conversion model on the session features and measure it honestly.

The split is by time (the last days are held out), the holdout metrics are computed on held-out
rows only, and each model is compared with a prior-only baseline on the same rows. No Dagster here.

Model selection never sees the holdout: a bounded set of candidates (:data:`SEARCH_SPACE`, read by
both trainers) is fitted on the earlier training days and scored on a validation period carved
from the end of the training days; the best is refitted on all training days and only then
evaluated on the holdout. Every candidate is recorded (``TrainingResult.candidates``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec

log = logging.getLogger(__name__)

MODEL_KINDS = ("hgb", "logreg")
SEARCH = "search"  # the kind that tries every family of SEARCH_SPACE


@dataclass(frozen=True)
class Candidate:
    """One point of the search space: a model family and its hyper-parameters for each trainer.

    ``sklearn`` holds the scikit-learn estimator's arguments; ``spark`` the Spark ML ones, except
    logistic regression's ``C``, which Spark turns into ``regParam = 1 / (C * training rows)``
    (the same penalty: Spark penalises the mean loss, scikit-learn the summed one).
    """

    family: str
    sklearn: Mapping[str, Any]
    spark: Mapping[str, Any]


# The whole search space, defined once for both trainers. The first entry of each family is its
# former fixed configuration and is always tried first. The GBT step sizes are twice the
# scikit-learn learning rates: Spark fits a fixed 60 trees where scikit-learn early-stops at up
# to 300, and ``maxDepth`` d allows 2**d leaves (about ``max_leaf_nodes``).
SEARCH_SPACE: dict[str, tuple[Candidate, ...]] = {
    "logreg": tuple(Candidate("logreg", {"C": c}, {"C": c}) for c in (1.0, 0.1, 10.0)),
    "hgb": (
        Candidate(
            "hgb",
            {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 40},
            {"stepSize": 0.1, "maxDepth": 4, "minInstancesPerNode": 40},
        ),
        Candidate(
            "hgb",
            {"learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 20},
            {"stepSize": 0.2, "maxDepth": 3, "minInstancesPerNode": 20},
        ),
        Candidate(
            "hgb",
            {"learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 80},
            {"stepSize": 0.1, "maxDepth": 5, "minInstancesPerNode": 80},
        ),
        Candidate(
            "hgb",
            {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 100},
            {"stepSize": 0.2, "maxDepth": 4, "minInstancesPerNode": 100},
        ),
    ),
}
DEFAULT_MAX_CANDIDATES = 8  # scikit-learn: the whole space (7 candidates)
# Lower is better for log_loss and brier, higher for roc_auc; the second metric breaks ties.
SELECTION_METRICS = {"log_loss": ("roc_auc", 1), "brier": ("log_loss", 1), "roc_auc": ("log_loss", -1)}


class TrainingDataError(ValueError):
    """The feature table cannot train a trustworthy model; the message says why."""


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


def code_version() -> str:
    """Short hash of the training code (this module and the Spark trainer): changes with it."""
    digest = hashlib.sha256()
    for name in ("training.py", "training_spark.py"):
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()[:12]


def search_candidates(kind: str, max_candidates: int, seed: int = 0) -> list[Candidate]:
    """The candidates to try, in order: at most ``max_candidates`` of ``kind``'s families.

    ``kind`` is a family of :data:`SEARCH_SPACE` or ``"search"`` (all of them). Each family's
    first entry comes first, its others follow in an order shuffled by ``seed`` (the same whether
    the family is searched alone or with others); families take turns, so every family is tried
    as soon as ``max_candidates`` allows it.
    """
    if kind == SEARCH:
        families = list(SEARCH_SPACE)
    elif kind in SEARCH_SPACE:
        families = [kind]
    else:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {(*MODEL_KINDS, SEARCH)}")
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
    queues = []
    for family in families:
        first, *others = SEARCH_SPACE[family]
        # one generator per family: its order is the same alone or beside other families
        rng = np.random.default_rng([seed, list(SEARCH_SPACE).index(family)])
        queues.append([first, *(others[i] for i in rng.permutation(len(others)))])
    ordered = [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)]
    return ordered[:max_candidates]


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


def score_probabilities(y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Rows, ROC AUC, log loss and Brier score of positive-class probabilities (AUC is None
    when the rows hold a single class)."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype="float64")
    return {
        "rows": len(y_true),
        "roc_auc": float(roc_auc_score(y_true, proba)) if len(np.unique(y_true)) == 2 else None,
        "log_loss": float(log_loss(y_true, proba, labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, proba)),
    }


def candidate_record(
    index: int,
    candidate: Candidate,
    hyperparams: Mapping[str, Any],
    estimator_params: Mapping[str, Any],
    validation: dict[str, Any] | None,
    fit_seconds: float | None,
) -> dict[str, Any]:
    """One row of ``TrainingResult.candidates`` (same keys for every trainer)."""
    validation = validation or {}
    return {
        "index": index,
        "family": candidate.family,
        "hyperparams": dict(hyperparams),
        "estimator_params": dict(estimator_params),
        "validation_rows": validation.get("rows"),
        "validation_roc_auc": validation.get("roc_auc"),
        "validation_log_loss": validation.get("log_loss"),
        "validation_brier": validation.get("brier"),
        "fit_seconds": None if fit_seconds is None else round(fit_seconds, 3),
        "chosen": False,
    }


def choose_candidate(records: list[dict[str, Any]], metric: str) -> int:
    """Position in ``records`` of the best validation ``metric`` (see :data:`SELECTION_METRICS`);
    ties go to the better second metric, then to the earlier candidate. Marks it ``chosen``."""
    second, sign = SELECTION_METRICS[metric]
    second_sign = -1 if second == "roc_auc" else 1

    def key(position: int) -> tuple[float, float, int]:
        record = records[position]
        return (
            sign * record[f"validation_{metric}"],
            second_sign * record[f"validation_{second}"],
            position,
        )

    best = min(range(len(records)), key=key)
    records[best]["chosen"] = True
    return best


def search_summary(
    kind: str,
    considered: list[Candidate],
    max_candidates: int,
    selection_metric: str,
    validation_days: int | None,
    validation_fraction: float,
    plan: ValidationPlan,
    seconds: float,
) -> dict[str, Any]:
    """``params["search"]``: the search settings and what happened (same keys for every trainer)."""
    families = list(SEARCH_SPACE) if kind == SEARCH else [kind]
    return {
        "kind": kind,
        "families": families,
        "space_size": sum(len(SEARCH_SPACE[f]) for f in families),
        "max_candidates": max_candidates,
        "considered": len(considered),
        "selection_metric": selection_metric,
        "validation_days_requested": validation_days,
        "validation_fraction": validation_fraction,
        **plan.as_dict(),
        "seconds": round(seconds, 3),
    }


def check_search_args(selection_metric: str, validation_fraction: float) -> None:
    if selection_metric not in SELECTION_METRICS:
        raise ValueError(
            f"selection_metric {selection_metric!r}: expected one of {', '.join(SELECTION_METRICS)}"
        )
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")


def warn_if_skipped(plan: ValidationPlan, kind: str, candidates: list[Candidate]) -> None:
    """Say so when the data cannot hold a validation period: the first candidate is fitted unselected."""
    if plan.start is None and len(candidates) > 1:
        log.warning(
            "kind=%s: no model search (%s); fitting the first of %d candidates (%s)",
            kind,
            plan.reason,
            len(candidates),
            candidates[0].family,
        )


def log1p_nonnegative(values: np.ndarray) -> np.ndarray:
    """log(1 + x) of counts, with anything below zero (never a real count) treated as zero."""
    return np.log1p(np.clip(values, 0, None))


def build_pipeline(
    kind: str = "logreg",
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    min_frequency: int | float = 10,
    hyperparams: Mapping[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing (impute, scale, one-hot) followed by a classifier of the given kind.

    ``hyperparams`` override the classifier's arguments (default: the family's first entry in
    :data:`SEARCH_SPACE`).
    """
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    counts = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("log1p", FunctionTransformer(log1p_nonnegative, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            # pd.NA here makes None, NaN and pd.NA all count as missing (np.nan misses None)
            (
                "impute",
                SimpleImputer(missing_values=pd.NA, strategy="constant", fill_value="missing"),
            ),
            (
                "onehot",
                OneHotEncoder(handle_unknown="ignore", min_frequency=min_frequency, sparse_output=False),
            ),
        ]
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", numeric, [c for c in spec.numeric if c not in spec.log_scaled]),
            ("counts", counts, [c for c in spec.numeric if c in spec.log_scaled]),
            ("categorical", categorical, list(spec.categorical)),
        ]
    )
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    chosen = dict(SEARCH_SPACE[kind][0].sklearn if hyperparams is None else hyperparams)
    if kind == "hgb":
        # Small, regularised trees with early stopping: web-session features are few and noisy.
        model: Any = HistGradientBoostingClassifier(
            **{
                "max_iter": 300,
                "l2_regularization": 1.0,
                "early_stopping": True,
                "validation_fraction": 0.15,
                "n_iter_no_change": 20,
                **chosen,
            },
            random_state=seed,
        )
    else:
        model = LogisticRegression(**{"max_iter": 1000, **chosen}, random_state=seed)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def prepare_features(frame: pd.DataFrame, spec: FeatureSpec = FEATURE_SPEC) -> pd.DataFrame:
    """The model inputs in the dtypes the pipeline expects (object categoricals, float numerics).

    Use it before ``predict_proba`` as well, so training and scoring see the same types.
    """
    out = pd.DataFrame(index=frame.index)
    for column in spec.categorical:
        values = frame[column].astype(object)
        out[column] = values.where(values.notna(), np.nan)
    for column in spec.numeric:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return out


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
    """Search on the earlier days, evaluate on the last ones, compare with a prior-only baseline.

    ``holdout_days`` fixes how many of the last days are held out; otherwise the number of last
    days whose rows come closest to ``holdout_fraction`` of all rows (at least one day each side).
    ``kind`` is ``"search"`` (every family) or one family; at most ``max_candidates`` candidates
    (:func:`search_candidates`) are fitted on the training days before the validation period
    (``validation_days`` / ``validation_fraction`` of the training rows, same rule as the
    holdout) and scored on it; the best ``selection_metric`` is refitted on all training days.
    """
    check_search_args(selection_metric, validation_fraction)
    candidates = search_candidates(kind, max_candidates, seed)
    frame = _validated(features, spec, min_rows)
    dates = pd.to_datetime(frame[spec.time_column]).dt.normalize()
    counts = day_counts(dates)
    cutoff = holdout_start(counts, holdout_days, holdout_fraction)
    is_holdout = (dates >= cutoff).to_numpy()
    train, holdout = frame[~is_holdout], frame[is_holdout]
    _check_split(train, holdout, spec)

    x_train, y_train = prepare_features(train, spec), train[spec.label].to_numpy(dtype=int)
    x_holdout, y_holdout = prepare_features(holdout, spec), holdout[spec.label].to_numpy(dtype=int)
    train_dates = dates[~is_holdout]

    def fit(candidate: Candidate, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
        pipeline = build_pipeline(
            candidate.family, seed, spec=spec, min_frequency=min_frequency, hyperparams=candidate.sklearn
        )
        return pipeline.fit(x, y)

    started = time.perf_counter()
    plan = plan_validation(
        day_counts(train_dates),
        pd.Series(y_train, index=train_dates.to_numpy()).groupby(level=0).sum(),
        validation_days,
        validation_fraction,
        len(candidates),
    )
    warn_if_skipped(plan, kind, candidates)
    records, chosen = [], candidates[0]
    if plan.start is None:
        records.append(candidate_record(0, chosen, chosen.sklearn, chosen.sklearn, None, None))
        records[0]["chosen"] = True
    else:
        is_validation = (train_dates >= plan.start).to_numpy()
        x_fit, y_fit = x_train[~is_validation], y_train[~is_validation]
        x_val, y_val = x_train[is_validation], y_train[is_validation]
        for index, candidate in enumerate(candidates):
            fit_started = time.perf_counter()
            fitted = fit(candidate, x_fit, y_fit)
            seconds = time.perf_counter() - fit_started
            scores = score_probabilities(y_val, fitted.predict_proba(x_val)[:, 1])
            records.append(
                candidate_record(index, candidate, candidate.sklearn, candidate.sklearn, scores, seconds)
            )
        chosen = candidates[choose_candidate(records, selection_metric)]
    search = search_summary(
        kind,
        candidates,
        max_candidates,
        selection_metric,
        validation_days,
        validation_fraction,
        plan,
        time.perf_counter() - started,
    )

    pipeline = fit(chosen, x_train, y_train)
    baseline = DummyClassifier(strategy="prior").fit(x_train, y_train)
    proba_train = pipeline.predict_proba(x_train)[:, 1]
    split = describe_split(counts, cutoff)
    proba_holdout = pipeline.predict_proba(x_holdout)[:, 1]
    metrics = assemble_metrics(
        model=evaluate_probabilities(y_train, proba_train, y_holdout, proba_holdout),
        baseline=_evaluate(baseline, x_train, y_train, x_holdout, y_holdout),
        positive_rate_train=float(y_train.mean()),
        positive_rate_holdout=float(y_holdout.mean()),
        split=split,
        min_auc_margin=min_auc_margin,
        train=score_probabilities(y_train, proba_train),
    )
    # The drift reference is the most recent training week: history features (prior sessions...)
    # keep growing while the first weeks of history accumulate, and comparing a new day with the
    # whole window would report that warm-up as drift.
    recent = train
    if reference_days:
        recent = train[(train_dates >= train_dates.max() - pd.Timedelta(days=reference_days - 1)).to_numpy()]
    sample = recent[list(spec.required)]
    if len(sample) > reference_rows:
        sample = sample.sample(n=reference_rows, random_state=seed)
    params = {
        "trainer": "scikit-learn",
        "kind": chosen.family,  # the fitted family; the requested kind is search["kind"]
        "hyperparams": dict(chosen.sklearn),
        "seed": seed,
        "holdout_days": holdout_days,
        "holdout_fraction": holdout_fraction,
        "min_frequency": min_frequency,
        "reference_days": reference_days,
        "categorical": list(spec.categorical),
        "numeric": list(spec.numeric),
        "label": spec.label,
        "search": search,
    }
    return TrainingResult(pipeline, metrics, split, sample.reset_index(drop=True), params, records)


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


def _validated(features: pd.DataFrame, spec: FeatureSpec, min_rows: int) -> pd.DataFrame:
    check_columns(list(features.columns), spec)
    labels = features[spec.label]
    profile = TableProfile(
        rows=len(features),
        null_times=int(features[spec.time_column].isna().sum()),
        invalid_labels=int(labels.isna().sum() + (~labels.dropna().isin([0, 1])).sum()),
        empty_features=tuple(c for c in spec.features if features[c].isna().all()),
        days=int(pd.to_datetime(features[spec.time_column]).dt.normalize().nunique()),
    )
    check_profile(profile, spec, min_rows)
    return features


def day_counts(dates: pd.Series) -> pd.Series:
    """Rows per day (index: normalised Timestamps, ascending): all the time split needs."""
    return dates.value_counts().sort_index()


def holdout_start(counts: pd.Series, holdout_days: int | None, holdout_fraction: float) -> pd.Timestamp:
    """The first held-out day, from the rows per day (see :func:`day_counts`)."""
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


def _check_split(train: pd.DataFrame, holdout: pd.DataFrame, spec: FeatureSpec) -> None:
    check_split_classes(
        classes={
            name: sorted(part[spec.label].astype(int).unique())
            for name, part in (("training", train), ("holdout", holdout))
        },
        rows={"training": len(train), "holdout": len(holdout)},
        empty_train_features=[c for c in spec.features if train[c].isna().all()],
        spec=spec,
    )


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


def assemble_metrics(
    *,
    model: dict[str, Any],
    baseline: dict[str, Any],
    positive_rate_train: float,
    positive_rate_holdout: float,
    split: TimeSplit,
    min_auc_margin: float,
    train: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics dict every trainer returns (same keys, same acceptance rule).

    ``train`` is the model's :func:`score_probabilities` on its training rows (``metrics["train"]``).
    """
    beats = bool(
        model["roc_auc"] > baseline["roc_auc"] + min_auc_margin and model["log_loss"] < baseline["log_loss"]
    )
    return {
        "model": model,
        "baseline": baseline,
        "beats_baseline": beats,
        "train": train or {},
        "min_auc_margin": float(min_auc_margin),
        "positive_rate_train": float(positive_rate_train),
        "positive_rate_holdout": float(positive_rate_holdout),
        "split": split.as_dict(),
    }


def _best_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The probability threshold with the highest F1 on the given (training) rows."""
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def _at_threshold(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    predicted = (proba >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    return {
        "threshold": float(threshold),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "predicted_positive_rate": float(predicted.mean()),
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }


CALIBRATION_BINS = 10
ROC_FPRS = (0.01, 0.05, 0.1, 0.2, 0.5)


def calibration_bins(y_true: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability table: ``bins`` equal-width probability bins (``[k/bins, (k+1)/bins)``, the
    last one closed), each non-empty one with its rows, mean predicted probability and observed
    positive rate; ``ece`` is their row-weighted mean absolute gap."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype="float64")
    which = np.clip(np.floor(proba * bins).astype(int), 0, bins - 1)
    table, gap = [], 0.0
    for k in range(bins):
        inside = which == k
        rows = int(inside.sum())
        if not rows:
            continue
        predicted, observed = float(proba[inside].mean()), float(y_true[inside].mean())
        table.append(
            {
                "lower": k / bins,
                "upper": (k + 1) / bins,
                "rows": rows,
                "mean_predicted": predicted,
                "observed_rate": observed,
            }
        )
        gap += rows * abs(predicted - observed)
    return {"bins": table, "ece": gap / len(proba)}


def roc_summary(
    y_true: np.ndarray, proba: np.ndarray, fprs: tuple[float, ...] = ROC_FPRS
) -> dict[str, float]:
    """``{"<fpr>": tpr}``: the highest true-positive rate reachable at or below each false-positive
    rate (a point of the empirical ROC curve, no interpolation)."""
    fpr, tpr, _ = roc_curve(
        np.asarray(y_true, dtype=int), np.asarray(proba, dtype="float64"), drop_intermediate=False
    )
    return {str(limit): float(tpr[fpr <= limit + 1e-12].max()) for limit in fprs}


def evaluate_probabilities(
    y_train: np.ndarray, proba_train: np.ndarray, y_holdout: np.ndarray, proba_holdout: np.ndarray
) -> dict[str, Any]:
    """Held-out metrics from labels and positive-class probabilities (any trainer); the tuned
    threshold is chosen on the training rows' probabilities only. Includes a calibration table
    (:func:`calibration_bins`) and the ROC curve's TPR at a few FPRs (:func:`roc_summary`)."""
    y_holdout = np.asarray(y_holdout, dtype=int)
    proba = np.asarray(proba_holdout, dtype="float64")
    tuned = _best_f1_threshold(np.asarray(y_train, dtype=int), np.asarray(proba_train, dtype="float64"))
    return {
        "roc_auc": float(roc_auc_score(y_holdout, proba)),
        "log_loss": float(log_loss(y_holdout, proba, labels=[0, 1])),
        "brier": float(brier_score_loss(y_holdout, proba)),
        "mean_predicted_probability": float(proba.mean()),
        "at_0_5": _at_threshold(y_holdout, proba, 0.5),
        "at_train_best_f1": _at_threshold(y_holdout, proba, tuned),
        "calibration": calibration_bins(y_holdout, proba),
        "tpr_at_fpr": roc_summary(y_holdout, proba),
    }


def _evaluate(
    model: Any,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_holdout: pd.DataFrame,
    y_holdout: np.ndarray,
) -> dict[str, Any]:
    """Held-out metrics of a fitted scikit-learn estimator (see :func:`evaluate_probabilities`)."""
    return evaluate_probabilities(
        y_train, model.predict_proba(x_train)[:, 1], y_holdout, model.predict_proba(x_holdout)[:, 1]
    )
