"""Answering a batch of prediction requests: route, features, scores, and the decision log.

Each request is routed by :class:`~platform_assets.serving.traffic.TrafficSplit` (the champion,
or the visitor's sticky arm of the experiment in force, plus a shadow); the batch's features come
from one run of the batch feature SQL (``served_features_batch``); each model scores its own
requests in one call, the shadow every request (``array_scoring``: the models' inputs prepared once);
each answer is appended to the decision log before it is returned.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from platform_assets.serving.array_scoring import BatchScoring
from platform_assets.serving.champion import ChampionUnavailable
from platform_assets.serving.heap import FreezeWhenLoaded
from platform_assets.serving.online_store import OnlineStore, StoreUnavailable
from platform_assets.serving.schema import PredictRequest, PredictResponse
from platform_assets.serving.served_features import SessionStart, served_features_batch
from platform_assets.serving.traffic import Route, TrafficSplit

BOT_PROBLEM = "bot traffic is not scored (the model never sees bots)"


class Decisions(Protocol):
    """Where answers are recorded (:class:`~platform_assets.lib.decision_log.DecisionLog`)."""

    def append(self, record: Mapping[str, Any]) -> None: ...

    def rotate_if_due(self) -> object: ...

    def close(self) -> object: ...


class NoDecisions:
    """Records nothing (``serve --no-decision-log``, and tests of the answer alone)."""

    def append(self, record: Mapping[str, Any]) -> None:
        return None

    def rotate_if_due(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class Refusal:
    """A request not answered with a prediction: the HTTP status and the problems to report."""

    status: int
    error: str
    problems: tuple[str, ...]


class Answerer:
    """Answers batches of requests (see the module docstring)."""

    def __init__(self, split: TrafficSplit, store: OnlineStore, decisions: Decisions) -> None:
        self.split, self.store, self.decisions = split, store, decisions
        self.scoring = BatchScoring()
        self.heap = FreezeWhenLoaded()

    def answer(self, requests: Sequence[PredictRequest]) -> list[PredictResponse | Refusal]:
        try:
            snapshot = self.store.current()
            routes = [self.split.route(request.visitor_id) for request in requests]
        except (ChampionUnavailable, StoreUnavailable) as error:
            return [Refusal(503, "not ready", (str(error),))] * len(requests)
        features = served_features_batch(snapshot, [session_start(r) for r in requests])
        answered, shadows = self.scoring.scores(
            features, [route.scorer for route in routes], [route.shadow for route in routes]
        )
        rows = features.to_dict("index")  # once: a pandas row per request cost more than its answer
        answers: list[PredictResponse | Refusal] = []
        for position, (request, route) in enumerate(zip(requests, routes, strict=True)):
            if position not in answered:
                answers.append(Refusal(422, "not scored", (BOT_PROBLEM,)))
                continue
            probability = answered[position]
            row = rows[position]
            answer = PredictResponse(
                probability=probability,
                label=int(probability >= route.scorer.threshold),
                threshold=route.scorer.threshold,
                model_version=route.scorer.version,
                arm=route.arm,
                experiment=route.experiment,
                decision_id=uuid.uuid4().hex,
                store_day=snapshot.day.isoformat(),
                features={c: _plain(row[c]) for c in route.scorer.spec.features},
            )
            self.decisions.append(decision_record(request, route, answer, shadows.get(position)))
            answers.append(answer)
        self.heap.used(snapshot, *(scorer for r in routes for scorer in (r.scorer, r.shadow)))
        return answers


def session_start(request: PredictRequest) -> SessionStart:
    return SessionStart(
        visitor_id=request.visitor_id,
        start=request.start_utc(),
        entry_path=request.entry_path,
        referrer=request.referrer,
        user_agent=request.user_agent,
        device=request.device,
        country=request.country,
    )


def decision_record(
    request: PredictRequest, route: Route, answer: PredictResponse, shadow_probability: float | None
) -> dict[str, Any]:
    """One line of the decision log (the fields ``sql/lake/decisions.sql`` reads)."""
    return {
        "decision_id": answer.decision_id,
        "ts": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "request_time": request.time.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "experiment": route.experiment,
        "deployment_id": route.deployment_id,
        "visitor_id": request.visitor_id,
        "session_id": request.session_id,
        "arm": route.arm,
        "version": answer.model_version,
        "probability": answer.probability,
        "label": answer.label,
        "threshold": answer.threshold,
        "shadow_version": route.shadow.version if route.shadow is not None else None,
        "shadow_probability": shadow_probability,
        "features": answer.features,
    }


def _plain(value: object) -> object:
    """A JSON value: numpy scalars as Python numbers, NaN/NA as null."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
