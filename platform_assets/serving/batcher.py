"""Micro-batching: requests that arrive while a batch is being answered are answered together.

The served feature query is the batch feature SQL (from its ``whole_sessions`` on), and DuckDB
binds and optimizes it on every execution (about 10 ms here, whatever the number of rows); a
scikit-learn pipeline's ``predict_proba`` costs nearly the same for one row as for fifty. A
:class:`Batcher` lets each request thread hand its request to a worker thread, which takes
every request waiting (up to ``max_batch``) and answers them with one call of ``handle``: one
query and one prediction per model for the batch. An idle server answers a lone request at once
(no waiting for a batch to fill); a busy one pays the fixed costs once per batch instead of once
per request.

A batch whose ``handle`` raises is answered again one request at a time, so a request that makes
it fail fails alone. When more than ``max_waiting`` requests are already queued, a new one is
refused at once (:class:`Overloaded`, answered 503 with Retry-After) instead of joining a queue
whose wait its client would give up on: an overloaded server keeps answering what it can at a
bounded latency rather than spending itself on answers nobody waits for any more.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_WAITING = 128
log = logging.getLogger(__name__)
_STOP = object()


class Overloaded(RuntimeError):
    """Too many requests are waiting: retry later."""


class Batcher(Generic[T, R]):
    """Answers submitted items in batches with ``handle`` (one result per item, in order)."""

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_waiting: int = DEFAULT_MAX_WAITING,
        workers: int = 1,
    ) -> None:
        if max_batch < 1 or workers < 1 or max_waiting < 1:
            raise ValueError("max_batch, max_waiting and workers must be positive")
        self.handle, self.max_batch, self.max_waiting = handle, max_batch, max_waiting
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"batcher-{n}", daemon=True) for n in range(workers)
        ]
        for worker in self._workers:
            worker.start()
        self.batches = 0  # answered so far (for the metrics of a benchmark or a test)
        self.items = 0
        self.refused = 0

    def submit(self, item: T) -> R:
        """The result for ``item`` (blocks until its batch is answered; re-raises its error)."""
        return self.submit_future(item).result()

    def submit_future(self, item: T) -> Future:
        """A future of the result for ``item`` (an event loop awaits it with
        ``asyncio.wrap_future``, holding no thread while the batch is answered); raises
        :class:`Overloaded` when ``max_waiting`` requests are already queued."""
        if self._queue.qsize() >= self.max_waiting:
            self.refused += 1
            raise Overloaded(f"{self.max_waiting} requests are already waiting")
        future: Future = Future()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Stop the workers once the items already submitted are answered."""
        for _ in self._workers:
            self._queue.put(_STOP)
        for worker in self._workers:
            worker.join()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP:
                    stop = True
                    break
                batch.append(waiting)
            self._answer(batch)
            if stop:
                return

    def _answer(self, batch: list[tuple[T, Future]]) -> None:
        try:
            results = self.handle([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"handle answered {len(results)} of {len(batch)} items")
        except Exception as error:
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            log.warning("a batch of %d failed (%s); answering its requests one by one", len(batch), error)
            for one in batch:
                self._answer([one])
            return
        self.batches += 1
        self.items += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
