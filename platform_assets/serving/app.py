"""The prediction service's web app (FastAPI): ``POST /predict``, ``/healthz``, ``/readyz``, ``/docs``.

Requests are answered in micro-batches (``serving/batcher.py``) by
:class:`~platform_assets.serving.answers.Answerer`: routed by the traffic split (the champion, or
the visitor's sticky arm of the experiment in force, plus a shadow scored beside it) and recorded
in the decision log (one JSON line per answer, landed in ``landing/decisions/`` for the platform
to ingest). Bad requests get a 4xx naming the problem; an error inside a request is a 500 with no
internals, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from platform_assets.serving.answers import Answerer, Decisions, NoDecisions, Refusal
from platform_assets.serving.batcher import DEFAULT_MAX_BATCH, Batcher, Overloaded
from platform_assets.serving.body_limit import BodyLimit
from platform_assets.serving.champion import ChampionUnavailable
from platform_assets.serving.online_store import OnlineStore, StoreUnavailable, store_root
from platform_assets.serving.schema import PredictRequest, PredictResponse
from platform_assets.serving.traffic import DEFAULT_POLL_SECONDS, TrafficSplit

DEFAULT_MAX_BODY_BYTES = 16 * 1024
ROTATE_CHECK_SECONDS = 1.0
log = logging.getLogger(__name__)


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


def create_app(
    data_dir: Path,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    decisions: Decisions | None = None,
    deployment_poll_seconds: float = DEFAULT_POLL_SECONDS,
    max_batch: int = DEFAULT_MAX_BATCH,
    batch_workers: int = 1,
) -> FastAPI:
    """The app over a platform data directory (its models/ registry and deployments, and its
    online/ store); ``decisions`` receives one record per answer and is closed on shutdown."""
    split = TrafficSplit(Path(data_dir) / "models", poll_seconds=deployment_poll_seconds)
    store = OnlineStore(store_root(Path(data_dir)))
    recorder = decisions or NoDecisions()
    batcher: Batcher[PredictRequest, PredictResponse | Refusal] = Batcher(
        Answerer(split, store, recorder).answer, max_batch=max_batch, workers=batch_workers
    )

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
            batcher.close()  # after the requests in flight are answered (and logged)
            log.info(
                "answered %d requests in %d batches; refused %d (overloaded)",
                batcher.items,
                batcher.batches,
                batcher.refused,
            )
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
    async def predict(request: PredictRequest) -> PredictResponse | JSONResponse:
        """The conversion probability of a session starting now, and the label at the model's threshold."""
        # answered by the batch worker with the requests that arrived meanwhile; no thread waits
        try:
            outcome = await asyncio.wrap_future(batcher.submit_future(request))
        except Overloaded as error:
            return JSONResponse(
                status_code=503,
                headers={"Retry-After": "1"},
                content={"error": "overloaded", "problems": [f"{error}: retry in a second"]},
            )
        if isinstance(outcome, Refusal):
            return JSONResponse(
                status_code=outcome.status,
                content={"error": outcome.error, "problems": list(outcome.problems)},
            )
        return outcome

    return app


def _rotate_until(recorder: Decisions, stop: threading.Event) -> None:
    """Land the open decision file when it is old enough, also on a quiet server."""
    while not stop.wait(ROTATE_CHECK_SECONDS):
        try:
            recorder.rotate_if_due()
        except OSError:
            log.exception("decision log rotation failed; retrying")
