"""Train a conversion model on the session features and measure it honestly.

The split is by time (the last days are held out), every metric is computed on held-out rows
only, and each model is compared with a prior-only baseline on the same rows. No Dagster here.
"""

from __future__ import annotations

import hashlib
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
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from platform_assets.lib.feature_spec import FEATURE_SPEC, FeatureSpec

MODEL_KINDS = ("hgb", "logreg")


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

    def info(self) -> dict[str, Any]:
        """Card fields for ``ModelStore.save`` / ``save_spark``: params, training data, code version."""
        return {
            "params": self.params,
            "training_data": self.split.as_dict(),
            "code_version": code_version(),
        }


def code_version() -> str:
    """Short hash of this module's source: changes whenever the training code changes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def log1p_nonnegative(values: np.ndarray) -> np.ndarray:
    """log(1 + x) of counts, with anything below zero (never a real count) treated as zero."""
    return np.log1p(np.clip(values, 0, None))


def build_pipeline(
    kind: str = "logreg",
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    min_frequency: int | float = 10,
) -> Pipeline:
    """Preprocessing (impute, scale, one-hot) followed by a classifier of the given kind."""
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
    if kind == "hgb":
        # Small, regularised trees with early stopping: web-session features are few and noisy.
        model: Any = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=seed,
        )
    elif kind == "logreg":
        model = LogisticRegression(max_iter=1000, random_state=seed)
    else:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
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
    kind: str = "logreg",
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
) -> TrainingResult:
    """Fit on the earlier days, evaluate on the last ones, compare with a prior-only baseline.

    ``holdout_days`` fixes how many of the last days are held out; otherwise the number of last
    days whose rows come closest to ``holdout_fraction`` of all rows (at least one day each side).
    """
    frame = _validated(features, spec, min_rows)
    dates = pd.to_datetime(frame[spec.time_column]).dt.normalize()
    counts = day_counts(dates)
    cutoff = holdout_start(counts, holdout_days, holdout_fraction)
    is_holdout = (dates >= cutoff).to_numpy()
    train, holdout = frame[~is_holdout], frame[is_holdout]
    _check_split(train, holdout, spec)

    x_train, y_train = prepare_features(train, spec), train[spec.label].to_numpy(dtype=int)
    x_holdout, y_holdout = prepare_features(holdout, spec), holdout[spec.label].to_numpy(dtype=int)
    pipeline = build_pipeline(kind, seed, spec=spec, min_frequency=min_frequency)
    pipeline.fit(x_train, y_train)
    baseline = DummyClassifier(strategy="prior").fit(x_train, y_train)

    split = describe_split(counts, cutoff)
    metrics = assemble_metrics(
        model=_evaluate(pipeline, x_train, y_train, x_holdout, y_holdout),
        baseline=_evaluate(baseline, x_train, y_train, x_holdout, y_holdout),
        positive_rate_train=float(y_train.mean()),
        positive_rate_holdout=float(y_holdout.mean()),
        split=split,
        min_auc_margin=min_auc_margin,
    )
    # The drift reference is the most recent training week: history features (prior sessions...)
    # keep growing while the first weeks of history accumulate, and comparing a new day with the
    # whole window would report that warm-up as drift.
    recent = train
    if reference_days:
        train_dates = dates[~is_holdout]
        recent = train[(train_dates >= train_dates.max() - pd.Timedelta(days=reference_days - 1)).to_numpy()]
    sample = recent[list(spec.required)]
    if len(sample) > reference_rows:
        sample = sample.sample(n=reference_rows, random_state=seed)
    params = {
        "trainer": "scikit-learn",
        "kind": kind,
        "seed": seed,
        "holdout_days": holdout_days,
        "holdout_fraction": holdout_fraction,
        "min_frequency": min_frequency,
        "reference_days": reference_days,
        "categorical": list(spec.categorical),
        "numeric": list(spec.numeric),
        "label": spec.label,
    }
    return TrainingResult(pipeline, metrics, split, sample.reset_index(drop=True), params)


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
) -> dict[str, Any]:
    """The metrics dict every trainer returns (same keys, same acceptance rule)."""
    beats = bool(
        model["roc_auc"] > baseline["roc_auc"] + min_auc_margin and model["log_loss"] < baseline["log_loss"]
    )
    return {
        "model": model,
        "baseline": baseline,
        "beats_baseline": beats,
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


def evaluate_probabilities(
    y_train: np.ndarray, proba_train: np.ndarray, y_holdout: np.ndarray, proba_holdout: np.ndarray
) -> dict[str, Any]:
    """Held-out metrics from labels and positive-class probabilities (any trainer); the tuned
    threshold is chosen on the training rows' probabilities only."""
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
