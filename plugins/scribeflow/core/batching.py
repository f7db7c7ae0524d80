"""Work of concurrent callers done together: one worker thread takes whatever requests are
waiting when it comes free and answers them with one call.

A search server answering many clients at once spends most of its CPU in two calls whose
cost hardly grows with the number of inputs: the embedding model's forward pass and the
Parquet store's matrix product over every stored vector. On 2 cores one query took 13 ms
to embed and sixteen in one call 36 ms; the product of 16 queries with 100k vectors took
35 ms against 15 ms for one (the matrix is read from memory once). A lone request is run at
once, without waiting for company.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_BLAS_LIMITED: set[tuple[int, int]] = set()


def one_blas_thread() -> None:
    """BLAS (numpy's matrix products) runs on one thread in the calling thread.

    OpenBLAS's threads wait for work spinning, on the cores the embedding model and the
    other requests need: under 16 clients at 5k rows the server spent 35 ms of CPU per
    Parquet request with OpenBLAS's own threads and 4.3 ms without (``bench/search_load.py``).
    OpenBLAS keeps the limit per calling thread, so each thread that multiplies sets it, once."""
    key = (os.getpid(), threading.get_ident())
    if key in _BLAS_LIMITED:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    _BLAS_LIMITED.add(key)


class Batcher(Generic[Item, Result]):
    """Runs ``answer`` on the requests of concurrent callers, at most ``max_batch`` at a time.

    ``answer`` gets the waiting items and returns one result per item, in order; a result that
    is an exception is raised in that item's caller alone. An exception raised by ``answer``
    itself is raised in every caller of the batch. ``on_start`` runs first on the worker
    thread (thread-local settings such as a library's thread count). A forked process starts
    its own worker."""

    def __init__(self, answer: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
                 name: str, max_batch: int = 32, on_start: Callable[[], None] | None = None):
        import queue

        self.answer, self.name, self.max_batch, self.on_start = answer, name, max_batch, on_start
        self.requests = self.batches = 0  # counted by the worker alone
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: tuple[int, threading.Thread] | None = None
        self._lock = threading.Lock()

    def submit(self, item: Item) -> Result:
        """``item``'s result, computed with those of the other callers waiting now."""
        from concurrent.futures import Future

        done: Future = Future()
        self._queue.put((item, done))
        self._ensure_worker()
        return done.result()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or self._worker[0] != os.getpid():
                thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                thread.start()
                self._worker = (os.getpid(), thread)

    def _run(self) -> None:
        import queue

        if self.on_start is not None:
            self.on_start()
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.requests, self.batches = self.requests + len(batch), self.batches + 1
            self._answer(batch)

    def to_dict(self) -> dict[str, int]:
        """Requests answered and the batches they took (a mean batch size under load)."""
        return {"requests": self.requests, "batches": self.batches}

    def _answer(self, batch: list[tuple[Item, Any]]) -> None:
        try:
            results = self.answer([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} requests")
        except Exception as exc:  # handed to every caller that waited on this batch
            for _, done in batch:
                done.set_exception(exc)
            return
        for (_, done), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)
