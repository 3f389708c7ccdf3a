"""The bounded model search: which candidates to try, in which order, and which one wins.

Model selection never sees the holdout: candidates are fitted on the earlier training days and
scored on a validation period at the end of them (:func:`~platform_assets.lib.ml.time_split.plan_validation`);
the best is refitted on all training days. Every candidate is recorded with the same keys,
whichever trainer fitted it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from platform_assets.lib.ml import families as registry
from platform_assets.lib.ml.families import Candidate, ModelFamily
from platform_assets.lib.ml.time_split import ValidationPlan

DEFAULT_MAX_CANDIDATES = 8  # scikit-learn: the whole space of the two first families (7 candidates)
# Lower is better for log_loss and brier, higher for roc_auc; the second metric breaks ties.
SELECTION_METRICS = {"log_loss": ("roc_auc", 1), "brier": ("log_loss", 1), "roc_auc": ("log_loss", -1)}


@dataclass(frozen=True)
class SearchSettings:
    """What to search: ``kind`` (a family or ``"search"``), how many candidates at most, and how
    to choose (validation period and selection metric)."""

    kind: str
    max_candidates: int
    selection_metric: str = "log_loss"
    validation_days: int | None = None
    validation_fraction: float = 0.25

    def check(self) -> None:
        if self.selection_metric not in SELECTION_METRICS:
            raise ValueError(
                f"selection_metric {self.selection_metric!r}: expected one of {', '.join(SELECTION_METRICS)}"
            )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be between 0 and 1, got {self.validation_fraction}")


def search_candidates(
    kind: str, max_candidates: int, seed: int = 0, *, spark: bool = False
) -> list[Candidate]:
    """The candidates to try, in order: at most ``max_candidates`` of ``kind``'s families.

    ``kind`` is a registered family or ``"search"`` (all of them; with ``spark``, those available
    on Spark ML). Each family's first entry comes first, its others follow in an order shuffled by
    ``seed`` (the same whether the family is searched alone or with others); families take turns,
    so every family is tried as soon as ``max_candidates`` allows it.
    """
    families = registry.resolve(kind, spark=spark)
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
    names = list(registry.FAMILIES)
    queues = []
    for family in families:
        first, *others = family.candidates()
        # one generator per family: its order is the same alone or beside other families
        rng = np.random.default_rng([seed, names.index(family.name)])
        queues.append([first, *(others[i] for i in rng.permutation(len(others)))])
    ordered = [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)]
    return ordered[:max_candidates]


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
    settings: SearchSettings,
    families: list[ModelFamily],
    considered: list[Candidate],
    plan: ValidationPlan,
    seconds: float,
) -> dict[str, Any]:
    """``params["search"]``: the search settings and what happened (same keys for every trainer)."""
    return {
        "kind": settings.kind,
        "families": [f.name for f in families],
        "space_size": sum(len(f.sklearn.grid) for f in families),
        "max_candidates": settings.max_candidates,
        "considered": len(considered),
        "selection_metric": settings.selection_metric,
        "validation_days_requested": settings.validation_days,
        "validation_fraction": settings.validation_fraction,
        **plan.as_dict(),
        "seconds": round(seconds, 3),
    }
