"""The Spark ML backend of the training template, for feature tables too large for one process.

Spark computes the day table with one aggregation; only small results reach the driver, plus
``(label, probability)`` of the held-out rows (and of at most ``threshold_rows`` training rows,
on which the F1 threshold is chosen) for the metrics. While searching, the preprocessing is fitted
once on the fit days and shared by every candidate; Spark fits are slower, so the default bound
is :data:`SPARK_MAX_CANDIDATES`. The model is a Spark ML ``PipelineModel`` (the features'
preprocessing stages, then the family's classifier). pyspark is imported by the caller's session.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from platform_assets.lib.ml import families
from platform_assets.lib.ml.data_checks import DAY, check_columns
from platform_assets.lib.ml.families import Candidate, SparkEstimator
from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec
from platform_assets.lib.ml.features import spark_preprocessing_stages

if TYPE_CHECKING:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.sql import DataFrame

TRAINER = "spark-ml"
# Both families' first two entries. Measured on 2.4k rows, local[2] on 2 loaded cores: about
# 3 s a logreg fit, 25-40 s a 60-tree GBT fit (one Spark job per tree level), 65-90 s for all 4.
SPARK_MAX_CANDIDATES = 4
_PROBA = "_p1"


def spark_estimator(kind: str) -> SparkEstimator:
    """The family's Spark ML estimator; a clear ValueError for a family not available on Spark."""
    return families.resolve(kind, spark=True)[0].spark  # type: ignore[return-value]


def spark_estimator_params(candidate: Candidate, rows: int) -> dict[str, Any]:
    """The Spark ML classifier arguments of a candidate fitted on ``rows`` rows (for example
    logistic regression's ``C`` becomes ``regParam = 1 / (C * rows)``)."""
    return spark_estimator(candidate.family).estimator_params(candidate.spark or {}, rows)


def build_spark_classifier(
    kind: str = "logreg",
    seed: int = 0,
    *,
    max_iter: int | None = None,
    hyperparams: dict[str, Any] | None = None,
) -> Any:
    """The classifier stage alone (reads ``_features`` and ``_label``). ``max_iter`` overrides its
    iterations (optimiser steps for logreg, trees for hgb; defaults 100 and 60); ``hyperparams``
    are its further arguments (see :func:`spark_estimator_params`)."""
    return spark_estimator(kind).build(dict(hyperparams or {}), seed, max_iter)


def build_spark_pipeline(
    kind: str = "logreg",
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    max_iter: int | None = None,
    hyperparams: dict[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing and classifier as one Spark ML Pipeline reading the spec's raw columns."""
    from pyspark.ml import Pipeline

    classifier = build_spark_classifier(kind, seed, max_iter=max_iter, hyperparams=hyperparams)
    return Pipeline(stages=[*spark_preprocessing_stages(spec), classifier])


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


def _persisted_vectors(prepared: PipelineModel, part: DataFrame, label: str) -> DataFrame:
    from pyspark import StorageLevel

    return prepared.transform(part).select("_features", label).persist(StorageLevel.MEMORY_AND_DISK)


def _fit(pipeline: Pipeline, train: DataFrame) -> PipelineModel:
    """Fit the preprocessing, cache the assembled training vectors once, fit the classifier on
    them (its iterations then read memory, not the whole lineage), return one PipelineModel."""
    from pyspark.ml import Pipeline, PipelineModel

    *preprocessing, classifier = pipeline.getStages()
    prepared_model = Pipeline(stages=preprocessing).fit(train)
    prepared = _persisted_vectors(prepared_model, train, "_label")
    try:
        fitted = classifier.fit(prepared)
    finally:
        prepared.unpersist()
    return PipelineModel(stages=[*prepared_model.stages, fitted])


def day_profile(frame: DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The day table (see ``data_checks``) of a Spark frame with a ``_day`` column: the whole
    table is scanned once, by one Spark job."""
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
    days = frame.groupBy(DAY).agg(*aggregates).toPandas()
    days[DAY] = pd.to_datetime(days[DAY])
    return days.fillna({c: 0 for c in days.columns if c != DAY})


@dataclass(frozen=True)
class SparkBackend:
    """Fits :func:`build_spark_pipeline` on a Spark DataFrame (see ``training.TrainingBackend``)."""

    spec: FeatureSpec = FEATURE_SPEC
    seed: int = 0
    max_iter: int | None = None
    threshold_rows: int = 1_000_000
    name: str = TRAINER
    spark: bool = True  # only families with a Spark ML estimator

    @contextmanager
    def open(self, features: DataFrame) -> Iterator[DataFrame]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        check_columns(features.columns, self.spec)
        frame = (
            features.select(*self.spec.required)
            .withColumn(DAY, F.to_date(F.col(self.spec.time_column)))
            .withColumn("_label", F.col(self.spec.label).cast("double"))
        )
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            yield frame
        finally:
            frame.unpersist()

    def day_table(self, table: DataFrame) -> pd.DataFrame:
        return day_profile(table, self.spec)

    def split(self, table: DataFrame, start: pd.Timestamp) -> tuple[DataFrame, DataFrame]:
        from pyspark.sql import functions as F

        after = F.col(DAY) >= F.lit(start.date())
        return table.where(~after), table.where(after)

    def hyperparams(self, candidate: Candidate) -> Mapping[str, Any]:
        return candidate.spark or {}

    def estimator_params(self, candidate: Candidate, rows: int) -> dict[str, Any]:
        return spark_estimator_params(candidate, rows)

    @contextmanager
    def candidate_fitter(self, fit_part: DataFrame, validation_part: DataFrame) -> Iterator[Any]:
        """The preprocessing fitted once on the fit days; both parts' vectors cached meanwhile."""
        from pyspark.ml import Pipeline

        prepared = Pipeline(stages=spark_preprocessing_stages(self.spec)).fit(fit_part)
        fit_vectors = _persisted_vectors(prepared, fit_part, "_label")
        validation_vectors = _persisted_vectors(prepared, validation_part, self.spec.label)
        try:
            yield _Fitter(self, fit_vectors, validation_vectors)
        finally:
            fit_vectors.unpersist()
            validation_vectors.unpersist()

    def fit(self, candidate: Candidate, train: DataFrame, rows: int) -> PipelineModel:
        hyperparams = spark_estimator_params(candidate, rows)
        pipeline = build_spark_pipeline(
            candidate.family, self.seed, spec=self.spec, max_iter=self.max_iter, hyperparams=hyperparams
        )
        return _fit(pipeline, train)

    def probabilities(self, model: Any, part: DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return _labels_and_probabilities(positive_probability(model, part), self.spec.label)

    def threshold_sample(self, train: DataFrame, rows: int) -> DataFrame:
        """At most about ``threshold_rows`` training rows (a seeded sample beyond that)."""
        if rows <= self.threshold_rows:
            return train
        return train.sample(fraction=min(1.0, 1.05 * self.threshold_rows / rows), seed=self.seed)

    def reference_sample(self, recent: DataFrame, available: int, rows: int) -> pd.DataFrame:
        if available > rows:
            # a little over the needed share, then an exact cut: one pass, no global sort
            recent = recent.sample(fraction=min(1.0, 1.1 * rows / available + 0.001), seed=self.seed)
        return recent.select(*self.spec.required).limit(rows).toPandas().reset_index(drop=True)

    def params(self, chosen: Candidate, train_rows: int) -> dict[str, Any]:
        estimator_params = spark_estimator_params(chosen, train_rows)
        classifier = build_spark_classifier(chosen.family, self.seed, hyperparams=estimator_params)
        return {
            "estimator_params": estimator_params,
            "spark_estimator": type(classifier).__name__,
            "min_frequency": None,  # Spark's StringIndexer keeps every category
            "reg_param": estimator_params.get("regParam", 0.0),
            "max_iter": self.max_iter,
            "threshold_rows": min(self.threshold_rows, train_rows),
        }


@dataclass
class _Fitter:
    """Classifiers fitted on the cached fit vectors, scored on the cached validation vectors."""

    backend: SparkBackend
    fit_vectors: DataFrame
    validation_vectors: DataFrame

    def fit(self, candidate: Candidate, rows: int) -> Any:
        hyperparams = spark_estimator_params(candidate, rows)
        backend = self.backend
        classifier = build_spark_classifier(
            candidate.family, backend.seed, max_iter=backend.max_iter, hyperparams=hyperparams
        )
        return classifier.fit(self.fit_vectors)

    def probabilities(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        return _labels_and_probabilities(
            positive_probability(model, self.validation_vectors), self.backend.spec.label
        )
