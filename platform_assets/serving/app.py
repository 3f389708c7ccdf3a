"""The prediction service's web app (FastAPI): ``POST /predict``, ``/healthz``, ``/readyz``, ``/docs``.

An answer is routed by :class:`~platform_assets.serving.traffic.TrafficSplit` (the champion, or
the visitor's sticky arm of the experiment in force, plus a shadow scored beside it) and recorded
in the decision log (one JSON line per answer, landed in ``landing/decisions/`` for the platform
to ingest). Bad requests get a 4xx naming the problem; an error inside a request is a 500 with no
internals, and the server keeps serving.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from platform_assets.serving.body_limit import BodyLimit
from platform_assets.serving.champion import ChampionUnavailable
from platform_assets.serving.online_store import OnlineStore, StoreUnavailable, store_root
from platform_assets.serving.schema import PredictRequest, PredictResponse
from platform_assets.serving.served_features import SessionStart, served_features
from platform_assets.serving.traffic import DEFAULT_POLL_SECONDS, Route, TrafficSplit

DEFAULT_MAX_BODY_BYTES = 16 * 1024
ROTATE_CHECK_SECONDS = 1.0
log = logging.getLogger(__name__)


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


def _problems(error: RequestValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        if item.get("type") == "json_invalid":
            problems.append(
                f"the body is not valid JSON: {item.get('ctx', {}).get('error', item.get('msg'))}"
            )
        else:
            problems.append(f"{where}: {item.get('msg')}")
    return problems


def _unavailable(problem: str) -> JSONResponse:
    return JSONResponse(status_code=503, content={"error": "not ready", "problems": [problem]})


def create_app(
    data_dir: Path,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    decisions: Decisions | None = None,
    deployment_poll_seconds: float = DEFAULT_POLL_SECONDS,
) -> FastAPI:
    """The app over a platform data directory (its models/ registry and deployments, and its
    online/ store); ``decisions`` receives one record per answer and is closed on shutdown."""
    split = TrafficSplit(Path(data_dir) / "models", poll_seconds=deployment_poll_seconds)
    store = OnlineStore(store_root(Path(data_dir)))
    recorder = decisions or NoDecisions()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        rotator = threading.Thread(
            target=_rotate_until, args=(recorder, stop), name="decision-log", daemon=True
        )
        rotator.start()
        try:
            yield
        finally:  # a graceful stop (SIGTERM, Ctrl-C) lands the open decision file whole
            stop.set()
            rotator.join()
            recorder.close()

    app = FastAPI(
        title="platform_assets prediction service",
        description="Conversion probability of a starting session, from the platform's champion model.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = _problems(error)
        status = 400 if any(p.startswith("the body is not valid JSON") for p in problems) else 422
        return JSONResponse(status_code=status, content={"error": "invalid request", "problems": problems})

    @app.exception_handler(Exception)
    async def _crashed(request: Request, error: Exception) -> JSONResponse:
        log.exception("predict failed")
        return JSONResponse(
            status_code=500, content={"error": "internal error", "problems": [type(error).__name__]}
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process answers (liveness)."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """Ready when a champion is loaded and verified and the online store is open; names the
        deployment in force and any version of it that cannot be served."""
        problems, body = [], {}
        try:
            body["model_version"] = split.champion.current().version
        except ChampionUnavailable as error:
            problems.append(f"champion: {error}")
        deployed = split.deployment()
        if deployed is not None:
            body["deployment"] = {
                "id": deployed.id,
                "experiment": deployed.experiment,
                "status": deployed.status,
            }
        body["unservable"] = split.problems()
        try:
            body["store_day"] = store.current().day.isoformat()
        except StoreUnavailable as error:
            problems.append(f"online store: {error}")
        if problems:
            return JSONResponse(status_code=503, content={"ready": False, "problems": problems, **body})
        return JSONResponse(content={"ready": True, **body})

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse | JSONResponse:
        """The conversion probability of a session starting now, and the label at the model's threshold."""
        try:
            route = split.route(request.visitor_id)
            snapshot = store.current()
        except (ChampionUnavailable, StoreUnavailable) as error:
            return _unavailable(str(error))
        session = SessionStart(
            visitor_id=request.visitor_id,
            start=request.start_utc(),
            entry_path=request.entry_path,
            referrer=request.referrer,
            user_agent=request.user_agent,
            device=request.device,
            country=request.country,
        )
        features = served_features(snapshot, session)
        if features.empty:
            return JSONResponse(
                status_code=422,
                content={
                    "error": "not scored",
                    "problems": ["bot traffic is not scored (the model never sees bots)"],
                },
            )
        probability = float(route.scorer.probabilities(features)[0])
        shadow = float(route.shadow.probabilities(features)[0]) if route.shadow is not None else None
        answer = PredictResponse(
            probability=probability,
            label=int(probability >= route.scorer.threshold),
            threshold=route.scorer.threshold,
            model_version=route.scorer.version,
            arm=route.arm,
            experiment=route.experiment,
            decision_id=uuid.uuid4().hex,
            store_day=snapshot.day.isoformat(),
            features={c: _plain(features.iloc[0][c]) for c in route.scorer.spec.features},
        )
        recorder.append(decision_record(request, route, answer, shadow))
        return answer

    return app


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


def _rotate_until(recorder: Decisions, stop: threading.Event) -> None:
    """Land the open decision file when it is old enough, also on a quiet server."""
    while not stop.wait(ROTATE_CHECK_SECONDS):
        try:
            recorder.rotate_if_due()
        except OSError:
            log.exception("decision log rotation failed; retrying")


def _plain(value: object) -> object:
    """A JSON value: numpy scalars as Python numbers, NaN/NA as null."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value
