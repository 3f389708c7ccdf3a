"""The model families the trainers can fit: one registry entry per family, read by both trainers.

A family names its scikit-learn estimator and bounded grid, and its Spark ML estimator and grid
(or ``spark=None``: not available on Spark). The two grids are aligned: point ``i`` of one is the
same model as point ``i`` of the other, so one :class:`Candidate` carries both. The first point of
each grid is the family's default and is always tried first. ``"search"`` means every family.
Adding a family is one :func:`register` call here (docs/recipes/add_a_model_family.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SEARCH = "search"  # the kind that tries every registered family

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Candidate:
    """One point of the search space: a family and its hyper-parameters for each trainer.

    ``spark`` is None for a family not available on Spark ML.
    """

    family: str
    sklearn: Params
    spark: Params | None


@dataclass(frozen=True)
class SklearnEstimator:
    """``build(hyperparams, seed)`` returns an unfitted classifier with ``predict_proba``."""

    build: Callable[[dict[str, Any], int], Any]
    grid: tuple[Params, ...]


def _as_given(hyperparams: Params, rows: int) -> dict[str, Any]:
    return dict(hyperparams)


@dataclass(frozen=True)
class SparkEstimator:
    """``build(estimator_params, seed, max_iter)`` returns an unfitted Spark ML classifier reading
    ``_features`` and ``_label``; ``estimator_params(hyperparams, rows)`` turns a grid point into
    its arguments for a fit on ``rows`` rows (default: as given)."""

    build: Callable[[dict[str, Any], int, int | None], Any]
    grid: tuple[Params, ...]
    estimator_params: Callable[[Params, int], dict[str, Any]] = field(default=_as_given)


@dataclass(frozen=True)
class ModelFamily:
    name: str
    description: str
    sklearn: SklearnEstimator
    spark: SparkEstimator | None  # None: not available on Spark ML

    def candidates(self) -> tuple[Candidate, ...]:
        spark_grid = self.spark.grid if self.spark else (None,) * len(self.sklearn.grid)
        return tuple(Candidate(self.name, s, p) for s, p in zip(self.sklearn.grid, spark_grid, strict=True))


FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    """Add a family (its grids checked: non-empty, aligned); the order of registration is the
    order in which a search tries the families."""
    if family.name == SEARCH or family.name in FAMILIES:
        raise ValueError(f"model family {family.name!r} is taken")
    if not family.sklearn.grid:
        raise ValueError(f"model family {family.name!r}: empty scikit-learn grid")
    if family.spark is not None and len(family.spark.grid) != len(family.sklearn.grid):
        raise ValueError(f"model family {family.name!r}: the Spark grid must align with the scikit-learn one")
    FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove a family (for tests that register a temporary one)."""
    FAMILIES.pop(name, None)


def get(name: str) -> ModelFamily:
    """The family called ``name``; a clear ValueError listing the known ones otherwise."""
    if name == SEARCH:
        raise ValueError(f"{SEARCH!r} is every family, not one: name one of {', '.join(FAMILIES)}")
    if name not in FAMILIES:
        raise ValueError(
            f"unknown model kind {name!r}; expected one of {', '.join(FAMILIES)} "
            f"(a model family) or {SEARCH!r} (every family)"
        )
    return FAMILIES[name]


def resolve(kind: str, *, spark: bool = False) -> list[ModelFamily]:
    """The families ``kind`` names: one, or every one for ``"search"``. With ``spark``, only
    families available on Spark ML; naming one that is not raises a ValueError."""
    if kind != SEARCH:
        family = get(kind)
        if spark and family.spark is None:
            available = ", ".join(f.name for f in FAMILIES.values() if f.spark is not None)
            raise ValueError(
                f"model family {kind!r} is not available on Spark ML (available: {available}); "
                "train it with trainer sklearn"
            )
        return [family]
    return [f for f in FAMILIES.values() if f.spark is not None or not spark]


def search_space() -> dict[str, tuple[Candidate, ...]]:
    """Every registered family's candidates, in registration order."""
    return {name: family.candidates() for name, family in FAMILIES.items()}


# -- the registered families ------------------------------------------------------------------


def _sklearn_logreg(hyperparams: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"max_iter": 1000, **hyperparams}, random_state=seed)


def _spark_logreg(params: dict[str, Any], seed: int, max_iter: int | None) -> Any:
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(
        featuresCol="_features",
        labelCol="_label",
        maxIter=max_iter or 100,
        elasticNetParam=0.0,
        standardization=False,  # numerics are scaled already; one-hot columns stay 0/1
        **{"regParam": 0.0, **params},
    )


def _spark_logreg_params(hyperparams: Params, rows: int) -> dict[str, Any]:
    """Spark penalises the mean loss, scikit-learn the summed one: ``C`` on ``rows`` rows is
    ``regParam = 1 / (C * rows)``, the same penalty."""
    params = dict(hyperparams)
    return {"regParam": 1.0 / (params.pop("C") * rows), **params}


def _sklearn_hgb(hyperparams: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Small, regularised trees with early stopping: web-session features are few and noisy.
    defaults = {
        "max_iter": 300,
        "l2_regularization": 1.0,
        "early_stopping": True,
        "validation_fraction": 0.15,
        "n_iter_no_change": 20,
    }
    return HistGradientBoostingClassifier(**{**defaults, **hyperparams}, random_state=seed)


def _spark_gbt(params: dict[str, Any], seed: int, max_iter: int | None) -> Any:
    from pyspark.ml.classification import GBTClassifier

    defaults: dict[str, Any] = {"maxDepth": 4, "stepSize": 0.1, "minInstancesPerNode": 40}
    return GBTClassifier(
        featuresCol="_features",
        labelCol="_label",
        maxIter=max_iter or 60,
        subsamplingRate=0.8,
        seed=seed,
        **{**defaults, **params},
    )


C_GRID = (1.0, 0.1, 10.0)

register(
    ModelFamily(
        name="logreg",
        description="logistic regression (L2): fast, calibrated, a linear baseline",
        sklearn=SklearnEstimator(_sklearn_logreg, tuple({"C": c} for c in C_GRID)),
        spark=SparkEstimator(_spark_logreg, tuple({"C": c} for c in C_GRID), _spark_logreg_params),
    )
)

# The GBT step sizes are twice the scikit-learn learning rates: Spark fits a fixed 60 trees where
# scikit-learn early-stops at up to 300, and ``maxDepth`` d allows 2**d leaves (about
# ``max_leaf_nodes``).
register(
    ModelFamily(
        name="hgb",
        description="gradient-boosted trees (scikit-learn HistGradientBoosting, Spark ML GBT)",
        sklearn=SklearnEstimator(
            _sklearn_hgb,
            (
                {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 40},
                {"learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 20},
                {"learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 80},
                {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 100},
            ),
        ),
        spark=SparkEstimator(
            _spark_gbt,
            (
                {"stepSize": 0.1, "maxDepth": 4, "minInstancesPerNode": 40},
                {"stepSize": 0.2, "maxDepth": 3, "minInstancesPerNode": 20},
                {"stepSize": 0.1, "maxDepth": 5, "minInstancesPerNode": 80},
                {"stepSize": 0.2, "maxDepth": 4, "minInstancesPerNode": 100},
            ),
        ),
    )
)
