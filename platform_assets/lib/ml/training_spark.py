"""Train the conversion model with Spark ML when the feature table is too large for one process.

Same contract as :func:`platform_assets.lib.ml.training.train_model`: the same checks on the table
(:func:`~platform_assets.lib.ml.training.check_profile`), the same time split computed from rows per
day (:func:`~platform_assets.lib.ml.training.holdout_start`), the same metric definitions
(:func:`~platform_assets.lib.ml.training.evaluate_probabilities`) and the same prior-only baseline.
Spark computes the profile and rows per day with aggregations; only small results reach the
driver, plus ``(label, probability)`` of the held-out rows (and of at most
``threshold_rows`` training rows, on which the F1 threshold is chosen) for the metrics.

The pipeline mirrors the scikit-learn one: missing categories become ``"missing"``, then
StringIndexer (``handleInvalid="keep"``: unseen categories get their own slot) + OneHotEncoder;
numerics get a median Imputer, ``log1p`` of the history counts (SQLTransformer), StandardScaler;
then LogisticRegression (``kind="logreg"``) or GBTClassifier (``kind="hgb"``). Differences:
no grouping of infrequent categories (scikit-learn's ``min_frequency``), Spark's median is
approximate (relative error 0.001). No Dagster here; pyspark is imported by the caller's session.

The model search is the scikit-learn trainer's (same :data:`~platform_assets.lib.ml.training.SEARCH_SPACE`,
candidate order, validation period and selection rule, same candidate records); the preprocessing
is fitted once on the fit days and shared by every candidate. Spark fits are slower, so the
default bound is :data:`SPARK_MAX_CANDIDATES`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec
from platform_assets.lib.ml.training import (
    MODEL_KINDS,
    SEARCH,
    Candidate,
    TableProfile,
    TimeSplit,
    TrainingResult,
    assemble_metrics,
    candidate_record,
    check_columns,
    check_profile,
    check_search_args,
    check_split_classes,
    choose_candidate,
    describe_split,
    evaluate_probabilities,
    holdout_start,
    plan_validation,
    score_probabilities,
    search_candidates,
    search_summary,
    warn_if_skipped,
)

if TYPE_CHECKING:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

TRAINER = "spark-ml"
# Both families' first two entries. Measured on 2.4k rows, local[2] on 2 loaded cores: about
# 3 s a logreg fit, 25-40 s a 60-tree GBT fit (one Spark job per tree level), 65-90 s for all 4.
SPARK_MAX_CANDIDATES = 4
_DAY = "_day"
_PROBA = "_p1"


def spark_estimator_params(candidate: Candidate, rows: int) -> dict[str, Any]:
    """The Spark ML classifier arguments of a candidate fitted on ``rows`` rows: logistic
    regression's ``C`` becomes ``regParam = 1 / (C * rows)``; GBT arguments are taken as they are."""
    params = dict(candidate.spark)
    if candidate.family == "logreg":
        return {"regParam": 1.0 / (params.pop("C") * rows), **params}
    return params


def build_spark_pipeline(
    kind: str = "logreg",
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    reg_param: float = 0.0,
    max_iter: int | None = None,
    hyperparams: dict[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing and classifier as one Spark ML Pipeline reading the spec's raw columns.

    ``reg_param`` is Spark's L2 strength on the mean loss; scikit-learn's default ``C=1`` on
    ``n`` training rows corresponds to ``1 / n``. ``max_iter`` overrides the classifier's
    iterations (optimiser steps for logreg, trees for hgb; defaults 100 and 60). ``hyperparams``
    are further classifier arguments (see :func:`spark_estimator_params`); they win over
    ``reg_param`` and the defaults.
    """
    from pyspark.ml import Pipeline

    classifier = build_spark_classifier(
        kind, seed, reg_param=reg_param, max_iter=max_iter, hyperparams=hyperparams
    )
    return Pipeline(stages=[*_preprocessing_stages(spec), classifier])


def build_spark_classifier(
    kind: str = "logreg",
    seed: int = 0,
    *,
    reg_param: float = 0.0,
    max_iter: int | None = None,
    hyperparams: dict[str, Any] | None = None,
) -> Any:
    """The classifier stage alone (reads ``_features`` and ``_label``), as in :func:`build_spark_pipeline`."""
    from pyspark.ml.classification import GBTClassifier, LogisticRegression

    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    if kind == "hgb":
        defaults: dict[str, Any] = {"maxDepth": 4, "stepSize": 0.1, "minInstancesPerNode": 40}
        return GBTClassifier(
            featuresCol="_features",
            labelCol="_label",
            maxIter=max_iter or 60,
            subsamplingRate=0.8,
            seed=seed,
            **{**defaults, **(hyperparams or {})},
        )
    return LogisticRegression(
        featuresCol="_features",
        labelCol="_label",
        maxIter=max_iter or 100,
        elasticNetParam=0.0,
        standardization=False,  # numerics are scaled already; one-hot columns stay 0/1
        **{"regParam": reg_param, **(hyperparams or {})},
    )


def _preprocessing_stages(spec: FeatureSpec) -> list[Any]:
    """Cast, index and one-hot the categories, impute/log/scale the numerics, assemble ``_features``."""
    from pyspark.ml.feature import (
        Imputer,
        OneHotEncoder,
        SQLTransformer,
        StandardScaler,
        StringIndexer,
        VectorAssembler,
    )

    categorical, numeric = list(spec.categorical), list(spec.numeric)
    # Inputs as the pipeline expects them, also when scoring: categories as strings with missing
    # spelled "missing" (as scikit-learn's imputer does), numerics as doubles. The label is not
    # read here (column ``_label``, added by the trainer), so the model scores unlabelled rows.
    cast = ", ".join(
        [f"COALESCE(CAST(`{c}` AS STRING), 'missing') AS `_cat_{c}`" for c in categorical]
        + [f"CAST(`{c}` AS DOUBLE) AS `_num_{c}`" for c in numeric]
    )
    stages: list[Any] = [SQLTransformer(statement=f"SELECT *, {cast} FROM __THIS__")]
    stages.append(
        StringIndexer(
            inputCols=[f"_cat_{c}" for c in categorical],
            outputCols=[f"_idx_{c}" for c in categorical],
            handleInvalid="keep",
            stringOrderType="frequencyDesc",
        )
    )
    stages.append(
        OneHotEncoder(
            inputCols=[f"_idx_{c}" for c in categorical],
            outputCols=[f"_oh_{c}" for c in categorical],
            handleInvalid="keep",
            dropLast=False,
        )
    )
    stages.append(
        Imputer(
            inputCols=[f"_num_{c}" for c in numeric],
            outputCols=[f"_imp_{c}" for c in numeric],
            strategy="median",
        )
    )
    # log(1 + x) of counts, anything below zero (never a real count) as zero: log1p_nonnegative
    logs = ", ".join(f"LN(1 + GREATEST(`_imp_{c}`, 0D)) AS `_log_{c}`" for c in spec.log_scaled)
    if logs:
        stages.append(SQLTransformer(statement=f"SELECT *, {logs} FROM __THIS__"))
    scaled_inputs = [f"_log_{c}" if c in spec.log_scaled else f"_imp_{c}" for c in numeric]
    stages += [
        VectorAssembler(inputCols=scaled_inputs, outputCol="_numeric"),
        StandardScaler(inputCol="_numeric", outputCol="_numeric_scaled", withMean=True, withStd=True),
        VectorAssembler(
            inputCols=["_numeric_scaled", *[f"_oh_{c}" for c in categorical]], outputCol="_features"
        ),
    ]
    return stages


def _fit(pipeline: Pipeline, train: DataFrame) -> PipelineModel:
    """Fit the preprocessing, cache the assembled training vectors once, fit the classifier on
    them (its iterations then read memory, not the whole lineage), return one PipelineModel."""
    from pyspark import StorageLevel
    from pyspark.ml import Pipeline, PipelineModel

    *preprocessing, classifier = pipeline.getStages()
    prepared_model = Pipeline(stages=preprocessing).fit(train)
    prepared = prepared_model.transform(train).select("_features", "_label")
    prepared = prepared.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        fitted = classifier.fit(prepared)
    finally:
        prepared.unpersist()
    return PipelineModel(stages=[*prepared_model.stages, fitted])


def positive_probability(model: PipelineModel, frame: DataFrame) -> DataFrame:
    """``frame`` with the positive-class probability as column ``_p1`` (computed in the JVM)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    return model.transform(frame).withColumn(_PROBA, vector_to_array(F.col("probability"))[1])


def _labels_and_probabilities(scored: DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    table = scored.select(label, _PROBA).toArrow()
    return (
        table.column(label).to_numpy(zero_copy_only=False).astype(int),
        table.column(_PROBA).to_numpy(zero_copy_only=False).astype("float64"),
    )


def day_profile(frame: DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """One small row per day (null days included): rows, label counts and non-null feature counts.

    Everything validation and the split need is summed from these rows on the driver, so the
    whole table is scanned once, by one Spark job.
    """
    from pyspark.sql import functions as F

    label = F.col(spec.label)
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(spec.time_column).isNull().cast("long")).alias("null_times"),
        F.sum((label == 1).cast("long")).alias("positives"),
        F.sum((label == 0).cast("long")).alias("negatives"),
        F.sum((label.isNull() | ~label.isin(0, 1)).cast("long")).alias("invalid_labels"),
        *[F.count(F.col(c)).alias(f"nonnull_{i}") for i, c in enumerate(spec.features)],
    ]
    days = frame.groupBy(_DAY).agg(*aggregates).toPandas()
    days[_DAY] = pd.to_datetime(days[_DAY])
    return days.fillna({c: 0 for c in days.columns if c != _DAY})


def _profile(days: pd.DataFrame, spec: FeatureSpec) -> tuple[TableProfile, pd.Series]:
    """The validation profile and rows per day (see ``training.day_counts``) from ``day_profile``."""
    dated = days[days[_DAY].notna()]
    counts = pd.Series(
        dated["rows"].to_numpy(dtype="int64"), index=pd.DatetimeIndex(dated[_DAY]), name="count"
    ).sort_index()
    profile = TableProfile(
        rows=int(days["rows"].sum()),
        null_times=int(days["null_times"].sum()),
        invalid_labels=int(days["invalid_labels"].sum()),
        empty_features=tuple(c for i, c in enumerate(spec.features) if days[f"nonnull_{i}"].sum() == 0),
        days=len(counts),
    )
    return profile, counts


def _check_split(days: pd.DataFrame, cutoff: pd.Timestamp, spec: FeatureSpec) -> None:
    is_holdout = days[_DAY] >= cutoff
    classes, rows = {}, {}
    for name, part in (("training", days[~is_holdout]), ("holdout", days[is_holdout])):
        classes[name] = [y for y, column in ((0, "negatives"), (1, "positives")) if part[column].sum() > 0]
        rows[name] = int(part["rows"].sum())
    train = days[~is_holdout]
    empty = [c for i, c in enumerate(spec.features) if train[f"nonnull_{i}"].sum() == 0]
    check_split_classes(classes, rows, empty, spec)


def train_model_spark(
    features: DataFrame,
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
    """Search on the earlier days, evaluate on the last ones (see module doc and ``train_model``).

    ``features`` is a Spark DataFrame with the spec's columns (for example Parquet exported from
    the warehouse). The F1 threshold and ``metrics["train"]`` use at most ``threshold_rows``
    training rows (a seeded sample beyond that), so the driver never holds more than that plus
    the holdout (and, while searching, the validation rows' labels and probabilities).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    check_search_args(selection_metric, validation_fraction)
    candidates = search_candidates(kind, max_candidates, seed)
    check_columns(features.columns, spec)
    frame = (
        features.select(*spec.required)
        .withColumn(_DAY, F.to_date(F.col(spec.time_column)))
        .withColumn("_label", F.col(spec.label).cast("double"))
    )
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        started = time.perf_counter()
        days = day_profile(frame, spec)
        profile, counts = _profile(days, spec)
        check_profile(profile, spec, min_rows)
        cutoff = holdout_start(counts, holdout_days, holdout_fraction)
        _check_split(days, cutoff, spec)
        split = describe_split(counts, cutoff)
        train_days = days[days[_DAY] < cutoff]
        positive_rate_train = float(train_days["positives"].sum() / split.train_rows)

        is_holdout = F.col(_DAY) >= F.lit(cutoff.date())
        train, holdout = frame.where(~is_holdout), frame.where(is_holdout)
        profiled = time.perf_counter()

        plan = plan_validation(
            counts[counts.index < cutoff],
            train_days.set_index(_DAY)["positives"],
            validation_days,
            validation_fraction,
            len(candidates),
        )
        warn_if_skipped(plan, kind, candidates)
        if plan.start is None:
            chosen = candidates[0]
            records = [
                candidate_record(
                    0,
                    chosen,
                    chosen.spark,
                    spark_estimator_params(chosen, split.train_rows),
                    None,
                    None,
                )
            ]
            records[0]["chosen"] = True
        else:
            records = _score_candidates(
                candidates, train, plan.start, plan.period["fit_rows"], spec, seed, max_iter
            )
            chosen = candidates[choose_candidate(records, selection_metric)]
        searched = time.perf_counter()
        search = search_summary(
            kind,
            candidates,
            max_candidates,
            selection_metric,
            validation_days,
            validation_fraction,
            plan,
            searched - profiled,
        )

        estimator_params = spark_estimator_params(chosen, split.train_rows)
        pipeline = build_spark_pipeline(
            chosen.family, seed, spec=spec, max_iter=max_iter, hyperparams=estimator_params
        )
        model = _fit(pipeline, train)
        fitted = time.perf_counter()

        y_holdout, p_holdout = _labels_and_probabilities(positive_probability(model, holdout), spec.label)
        threshold_sample = train
        if split.train_rows > threshold_rows:
            threshold_sample = train.sample(
                fraction=min(1.0, 1.05 * threshold_rows / split.train_rows), seed=seed
            )
        y_train, p_train = _labels_and_probabilities(
            positive_probability(model, threshold_sample), spec.label
        )
        # prior-only baseline: every row gets the training positive rate (DummyClassifier "prior")
        baseline = evaluate_probabilities(
            y_train,
            np.full(len(y_train), positive_rate_train),
            y_holdout,
            np.full(len(y_holdout), positive_rate_train),
        )
        metrics = assemble_metrics(
            model=evaluate_probabilities(y_train, p_train, y_holdout, p_holdout),
            baseline=baseline,
            positive_rate_train=positive_rate_train,
            positive_rate_holdout=float(y_holdout.mean()),
            split=split,
            min_auc_margin=min_auc_margin,
            train=score_probabilities(y_train, p_train),
        )
        scored = time.perf_counter()
        reference = _reference_sample(train, counts, split, spec, reference_rows, reference_days, seed)
        log.info(
            "spark-ml %s: profile+split %.1fs, search %.1fs (%d candidates), fit %.1fs, "
            "score+metrics %.1fs, reference %.1fs",
            kind,
            profiled - started,
            searched - profiled,
            len(records),
            fitted - searched,
            scored - fitted,
            time.perf_counter() - scored,
        )
    finally:
        frame.unpersist()
    params = {
        "trainer": TRAINER,
        "kind": chosen.family,  # the fitted family; the requested kind is search["kind"]
        "hyperparams": dict(chosen.spark),
        "estimator_params": estimator_params,
        "spark_estimator": "GBTClassifier" if chosen.family == "hgb" else "LogisticRegression",
        "seed": seed,
        "holdout_days": holdout_days,
        "holdout_fraction": holdout_fraction,
        "min_frequency": None,  # Spark's StringIndexer keeps every category
        "reg_param": estimator_params.get("regParam", 0.0),
        "max_iter": max_iter,
        "reference_days": reference_days,
        "threshold_rows": min(threshold_rows, split.train_rows),
        "categorical": list(spec.categorical),
        "numeric": list(spec.numeric),
        "label": spec.label,
        "search": search,
    }
    return TrainingResult(model, metrics, split, reference, params, records)


def _score_candidates(
    candidates: list[Candidate],
    train: DataFrame,
    start: pd.Timestamp,
    fit_rows: int,
    spec: FeatureSpec,
    seed: int,
    max_iter: int | None,
) -> list[dict[str, Any]]:
    """Fit every candidate on the training days before ``start``, score it on the days from
    ``start`` on (validation); the preprocessing is fitted once, on the fit days, and shared."""
    from pyspark import StorageLevel
    from pyspark.ml import Pipeline
    from pyspark.sql import functions as F

    is_validation = F.col(_DAY) >= F.lit(start.date())
    fit_part, validation_part = train.where(~is_validation), train.where(is_validation)
    prepared = Pipeline(stages=_preprocessing_stages(spec)).fit(fit_part)
    fit_vectors = prepared.transform(fit_part).select("_features", "_label")
    fit_vectors = fit_vectors.persist(StorageLevel.MEMORY_AND_DISK)
    validation_vectors = prepared.transform(validation_part).select("_features", spec.label)
    validation_vectors = validation_vectors.persist(StorageLevel.MEMORY_AND_DISK)
    records = []
    try:
        for index, candidate in enumerate(candidates):
            estimator_params = spark_estimator_params(candidate, fit_rows)
            classifier = build_spark_classifier(
                candidate.family, seed, max_iter=max_iter, hyperparams=estimator_params
            )
            fit_started = time.perf_counter()
            fitted = classifier.fit(fit_vectors)
            seconds = time.perf_counter() - fit_started
            y_val, p_val = _labels_and_probabilities(
                positive_probability(fitted, validation_vectors), spec.label
            )
            records.append(
                candidate_record(
                    index,
                    candidate,
                    candidate.spark,
                    estimator_params,
                    score_probabilities(y_val, p_val),
                    seconds,
                )
            )
    finally:
        fit_vectors.unpersist()
        validation_vectors.unpersist()
    return records


def _reference_sample(
    train: DataFrame,
    counts: pd.Series,
    split: TimeSplit,
    spec: FeatureSpec,
    reference_rows: int,
    reference_days: int | None,
    seed: int,
) -> pd.DataFrame:
    """A sample of the most recent training week (as in ``train_model``), for drift monitoring."""
    from pyspark.sql import functions as F

    recent, first = train, pd.Timestamp(split.train_start)
    if reference_days:
        first = pd.Timestamp(split.train_end) - pd.Timedelta(days=reference_days - 1)
        recent = train.where(F.col(_DAY) >= F.lit(first.date()))
    end = pd.Timestamp(split.train_end)
    available = int(counts[(counts.index >= first) & (counts.index <= end)].sum())
    if available > reference_rows:
        # a little over the needed share, then an exact cut: one pass, no global sort
        fraction = min(1.0, 1.1 * reference_rows / available + 0.001)
        recent = recent.sample(fraction=fraction, seed=seed)
    return recent.select(*spec.required).limit(reference_rows).toPandas().reset_index(drop=True)
