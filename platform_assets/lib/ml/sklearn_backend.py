"""The scikit-learn backend of the training template: a pandas table, fitted in this process.

What differs from Spark is only here: how the table is summarised per day, split, fitted and
scored. The model is a scikit-learn Pipeline (the features' preprocessing, then the family's
classifier) saved as a skops file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from platform_assets.lib.ml import families
from platform_assets.lib.ml.data_checks import DAY, check_columns
from platform_assets.lib.ml.families import Candidate
from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec
from platform_assets.lib.ml.features import prepare_features, sklearn_preprocessing

TRAINER = "scikit-learn"


def build_pipeline(
    kind: str = "logreg",
    seed: int = 0,
    *,
    spec: FeatureSpec = FEATURE_SPEC,
    min_frequency: int | float = 10,
    hyperparams: Mapping[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing (impute, scale, one-hot) followed by a classifier of the family ``kind``.

    ``hyperparams`` override the classifier's arguments (default: the family's first grid point).
    """
    preprocess = sklearn_preprocessing(spec, min_frequency)
    estimator = families.get(kind).sklearn
    chosen = dict(estimator.grid[0] if hyperparams is None else hyperparams)
    return Pipeline([("preprocess", preprocess), ("model", estimator.build(chosen, seed))])


@dataclass(frozen=True)
class SklearnBackend:
    """Fits :func:`build_pipeline` on pandas rows (see ``training.TrainingBackend``)."""

    spec: FeatureSpec = FEATURE_SPEC
    seed: int = 0
    min_frequency: int | float = 10
    name: str = TRAINER
    spark: bool = False  # every registered family is available

    @contextmanager
    def open(self, features: pd.DataFrame) -> Iterator[pd.DataFrame]:
        check_columns(list(features.columns), self.spec)
        yield features.assign(**{DAY: pd.to_datetime(features[self.spec.time_column]).dt.normalize()})

    def day_table(self, table: pd.DataFrame) -> pd.DataFrame:
        spec, label = self.spec, table[self.spec.label]
        flags = {
            DAY: table[DAY],
            "rows": np.ones(len(table), dtype="int64"),
            "null_times": table[spec.time_column].isna().to_numpy(dtype="int64"),
            "positives": (label == 1).to_numpy(dtype=bool, na_value=False).astype("int64"),
            "negatives": (label == 0).to_numpy(dtype=bool, na_value=False).astype("int64"),
            "invalid_labels": (label.isna() | ~label.isin([0, 1])).to_numpy(dtype="int64"),
            **{f"nonnull_{i}": table[c].notna().to_numpy(dtype="int64") for i, c in enumerate(spec.features)},
        }
        return pd.DataFrame(flags).groupby(DAY, dropna=False, sort=True).sum().reset_index()

    def split(self, table: pd.DataFrame, start: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        after = (table[DAY] >= start).to_numpy()
        return table[~after], table[after]

    def hyperparams(self, candidate: Candidate) -> Mapping[str, Any]:
        return candidate.sklearn

    def estimator_params(self, candidate: Candidate, rows: int) -> dict[str, Any]:
        return dict(candidate.sklearn)

    @contextmanager
    def candidate_fitter(self, fit_part: pd.DataFrame, validation_part: pd.DataFrame) -> Iterator[Any]:
        yield _Fitter(self, *self._xy(fit_part), *self._xy(validation_part))

    def fit(self, candidate: Candidate, train: pd.DataFrame, rows: int) -> Pipeline:
        return self.pipeline(candidate).fit(*self._xy(train))

    def probabilities(self, model: Pipeline, part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._xy(part)
        return y, model.predict_proba(x)[:, 1]

    def threshold_sample(self, train: pd.DataFrame, rows: int) -> pd.DataFrame:
        return train  # every training row

    def reference_sample(self, recent: pd.DataFrame, available: int, rows: int) -> pd.DataFrame:
        sample = recent[list(self.spec.required)]
        if len(sample) > rows:
            sample = sample.sample(n=rows, random_state=self.seed)
        return sample.reset_index(drop=True)

    def params(self, chosen: Candidate, train_rows: int) -> dict[str, Any]:
        return {"min_frequency": self.min_frequency}

    def pipeline(self, candidate: Candidate) -> Pipeline:
        return build_pipeline(
            candidate.family,
            self.seed,
            spec=self.spec,
            min_frequency=self.min_frequency,
            hyperparams=candidate.sklearn,
        )

    def _xy(self, part: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        return prepare_features(part, self.spec), part[self.spec.label].to_numpy(dtype=int)


@dataclass
class _Fitter:
    """Candidates fitted on the fit days' rows, scored on the validation days' rows."""

    backend: SklearnBackend
    x_fit: pd.DataFrame
    y_fit: np.ndarray
    x_validation: pd.DataFrame
    y_validation: np.ndarray

    def fit(self, candidate: Candidate, rows: int) -> Pipeline:
        return self.backend.pipeline(candidate).fit(self.x_fit, self.y_fit)

    def probabilities(self, model: Pipeline) -> tuple[np.ndarray, np.ndarray]:
        return self.y_validation, model.predict_proba(self.x_validation)[:, 1]
