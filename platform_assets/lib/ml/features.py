"""From the feature spec's raw columns to model inputs: the same preprocessing for both trainers.

Categories: missing (None, NaN, pd.NA) spelled ``"missing"``, then one-hot (unseen categories
ignored). Numerics: median imputation, ``log(1 + x)`` of the history counts, standard scaling.
scikit-learn groups infrequent categories (``min_frequency``); Spark's StringIndexer keeps them
all, and its median is approximate (relative error 0.001).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec


def log1p_nonnegative(values: np.ndarray) -> np.ndarray:
    """log(1 + x) of counts, with anything below zero (never a real count) treated as zero."""
    return np.log1p(np.clip(values, 0, None))


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


def sklearn_preprocessing(
    spec: FeatureSpec = FEATURE_SPEC, min_frequency: int | float = 10
) -> ColumnTransformer:
    """Impute, log and scale the numerics, impute and one-hot the categories (unfitted)."""
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
    return ColumnTransformer(
        [
            ("numeric", numeric, [c for c in spec.numeric if c not in spec.log_scaled]),
            ("counts", counts, [c for c in spec.numeric if c in spec.log_scaled]),
            ("categorical", categorical, list(spec.categorical)),
        ]
    )


def spark_preprocessing_stages(spec: FeatureSpec = FEATURE_SPEC) -> list[Any]:
    """The same steps as Spark ML stages, assembling the vector column ``_features``."""
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
