"""Scoring a batch's feature rows with every model that answers it, the models' inputs prepared once.

A served model is a scikit-learn Pipeline: a ColumnTransformer (sub-pipelines over groups of
columns) then a classifier. On a pandas frame, ``predict_proba`` spent most of its ~5 ms selecting
columns, checking feature names and dispatching through the ColumnTransformer, whatever the number
of rows. :class:`ArrayPipeline` calls the same fitted sub-pipelines, each on its columns as a NumPy
array, and the fitted classifier on their concatenation, as ``ColumnTransformer.transform`` and
``Pipeline.predict_proba`` do: the same fitted objects on the same values, so the probabilities are
the pipeline's bit for bit (the skew test compares them exactly with the batch's). The feature
names are checked once, when it is built: the copies of the steps it calls have no
``feature_names_in_`` (which would make each call check them again, or warn on an array).

A model of any other shape (not a ColumnTransformer then a classifier, a kept remainder, sparse
output) is scored by :meth:`Scorer.probabilities`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.lib.ml.features import prepare_features
from platform_assets.lib.ml.scoring import Scorer

KEEP_PIPELINES = 16  # array paths kept (by model); more are built again when next needed


@dataclass(frozen=True)
class ArrayPipeline:
    """A fitted ``Pipeline([ColumnTransformer, classifier])`` scored on NumPy arrays."""

    blocks: tuple[tuple[Any, list[str]], ...]  # each sub-pipeline (names dropped) and its columns
    classifier: Any

    @classmethod
    def of(cls, model: Any, columns: Sequence[str]) -> ArrayPipeline | None:
        """The array path of ``model`` over inputs with ``columns``; None for another shape."""
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline

        if not isinstance(model, Pipeline) or len(model.steps) != 2:
            return None
        transformer, classifier = model.steps[0][1], model.steps[1][1]
        if not isinstance(transformer, ColumnTransformer) or transformer.sparse_output_:
            return None
        if getattr(transformer, "_sklearn_output_config", {}).get("transform") not in (None, "default"):
            return None
        blocks = []
        for _name, step, names in transformer.transformers_:
            if (isinstance(step, str) and step == "drop") or len(names) == 0:
                continue
            if isinstance(step, str) or not all(isinstance(n, str) and n in columns for n in names):
                return None
            if list(getattr(step, "feature_names_in_", names)) != list(names):
                return None
            blocks.append((_without_names(step), list(names)))
        return cls(tuple(blocks), classifier)

    def probabilities(self, inputs: pd.DataFrame) -> np.ndarray:
        """Positive-class probability of each row of ``inputs`` (``prepare_features`` output)."""
        arrays = [step.transform(inputs[names].to_numpy()) for step, names in self.blocks]
        return self.classifier.predict_proba(np.hstack(arrays))[:, 1].astype("float64")


def _without_names(step: Any) -> Any:
    """A shallow copy of a fitted step (and of a pipeline's steps) without ``feature_names_in_``."""
    step = copy.copy(step)
    if hasattr(step, "steps"):
        step.steps = [(name, _without_names(inner)) for name, inner in step.steps]
    if "feature_names_in_" in vars(step):
        del step.feature_names_in_
    return step


class BatchScoring:
    """Scores a batch with each request's scorers: one call per model (see the module docstring)."""

    def __init__(self) -> None:
        self._pipelines: dict[int, tuple[Any, ArrayPipeline | None]] = {}
        self._lock = threading.Lock()

    def scores(self, features: pd.DataFrame, *per_request: Sequence[Scorer | None]) -> list[dict[int, float]]:
        """For each list of scorers (one per request position): each scored request's probability
        by its position. Every scorer scores its own requests in one call; requests without a
        feature row (bots) or without a scorer get none."""
        prepared: dict[Any, pd.DataFrame] = {}
        answers = []
        for scorers in per_request:
            groups: dict[int, tuple[Scorer, list[int]]] = {}
            for position, scorer in enumerate(scorers):
                if scorer is not None and position in features.index:
                    groups.setdefault(id(scorer), (scorer, []))[1].append(position)
            scores: dict[int, float] = {}
            for scorer, positions in groups.values():
                probabilities = self._probabilities(scorer, features, positions, prepared)
                scores.update(zip(positions, (float(p) for p in probabilities), strict=True))
            answers.append(scores)
        return answers

    def _probabilities(
        self, scorer: Scorer, features: pd.DataFrame, positions: list[int], prepared: dict[Any, pd.DataFrame]
    ) -> np.ndarray:
        pipeline = self._pipeline(scorer)
        if pipeline is None:
            return scorer.probabilities(features.loc[positions])
        if scorer.spec not in prepared:
            prepared[scorer.spec] = prepare_features(features, scorer.spec)
        inputs = prepared[scorer.spec]
        return pipeline.probabilities(inputs if len(positions) == len(inputs) else inputs.loc[positions])

    def _pipeline(self, scorer: Scorer) -> ArrayPipeline | None:
        kept = self._pipelines.get(id(scorer.model))
        if kept is None or kept[0] is not scorer.model:
            from platform_assets.lib.ml.model_store import SPARK_FORMAT

            path = (
                None
                if scorer.model_format == SPARK_FORMAT
                else ArrayPipeline.of(scorer.model, scorer.spec.features)
            )
            with self._lock:
                if len(self._pipelines) >= KEEP_PIPELINES:
                    self._pipelines.clear()
                self._pipelines[id(scorer.model)] = kept = (scorer.model, path)
        return kept[1]
