"""Score feature rows with a registered model, whichever trainer made it.

:func:`load_scorer` loads a version from the :class:`ModelStore` (its bytes checked against the
registry first) and returns a :class:`Scorer` whose ``probabilities`` gives the positive-class
probability of each row, in row order: scikit-learn in this process, or a Spark ML pipeline on a
Spark session the caller provides. No Dagster here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.lib.ml.feature_spec import FEATURE_SPEC, FeatureSpec
from platform_assets.lib.ml.model_store import SPARK_FORMAT, ModelStore

_ROW = "_row"


@dataclass(frozen=True)
class Scorer:
    """A loaded model version and the decision threshold it was tuned with."""

    version: str
    model_format: str
    model: Any
    threshold: float
    spec: FeatureSpec = FEATURE_SPEC
    spark: Any = None

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probability of every row of ``frame`` (same order)."""
        if frame.empty:
            return np.empty(0, dtype="float64")
        if self.model_format == SPARK_FORMAT:
            return self._spark_probabilities(frame)
        from platform_assets.lib.ml.features import prepare_features

        return self.model.predict_proba(prepare_features(frame, self.spec))[:, 1].astype("float64")

    def _spark_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows go to Spark with an explicit schema (strings and doubles: the pipeline casts
        them itself) and a row number, so an all-null column or a reordering cannot go wrong."""
        from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

        from platform_assets.lib.ml.spark_backend import positive_probability

        schema = StructType(
            [StructField(c, StringType()) for c in self.spec.categorical]
            + [StructField(c, DoubleType()) for c in self.spec.numeric]
            + [StructField(_ROW, LongType())]
        )
        columns = [
            *(
                frame[c].astype(object).where(frame[c].notna(), None).map(_text)
                for c in self.spec.categorical
            ),
            *(
                pd.to_numeric(frame[c], errors="coerce")
                .astype("float64")
                .astype(object)
                .where(frame[c].notna(), None)
                for c in self.spec.numeric
            ),
        ]
        rows = [(*values, i) for i, values in enumerate(zip(*columns, strict=True))]
        scored = positive_probability(self.model, self.spark.createDataFrame(rows, schema))
        out = scored.select(_ROW, "_p1").toPandas().sort_values(_ROW)
        return out["_p1"].to_numpy(dtype="float64")


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def load_scorer(store: ModelStore, version: str, spark: Callable[[], Any] | None = None) -> Scorer:
    """Load ``version`` for scoring; ``spark`` returns a SparkSession and is only called for a
    Spark ML model. The threshold is the one tuned on the model's training rows."""
    card = store.card(version)
    threshold = float(card["metrics"]["model"]["at_train_best_f1"]["threshold"])
    model_format = store.get(version).format
    if model_format == SPARK_FORMAT:
        if spark is None:
            raise ValueError(f"model {version} is a Spark ML model: scoring it needs a Spark session")
        session = spark()
        return Scorer(version, model_format, store.load_spark(version), threshold, spark=session)
    return Scorer(version, model_format, store.load(version), threshold)
