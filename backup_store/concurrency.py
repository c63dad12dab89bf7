"""Bounded concurrency for async jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Generic, TypeVar, cast

T = TypeVar("T")
K = TypeVar("K")
A = TypeVar("A")
B = TypeVar("B")


async def run_bounded(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run jobs with at most ``limit`` at once; results in job order.

    The first failure cancels the other jobs and is raised as itself (not as an
    exception group), so callers see the typed error.
    """
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(job)) for job in jobs]
    except BaseExceptionGroup as errors:
        # (Python 3.11's TaskGroup leaves the parent's cancel count raised after a
        # child failure, so ``cancelling()`` cannot tell an outside cancellation.)
        first: BaseException = errors
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def both(
    first: Callable[[], Awaitable[A]], second: Callable[[], Awaitable[B]]
) -> tuple[A, B]:
    """Run two jobs at once: both results, or the first failure (as :func:`run_bounded`)."""
    results = await run_bounded([first, second], 2)
    return cast(A, results[0]), cast(B, results[1])


class ByteBudget:
    """Bytes that transfers may hold in memory at once, shared by one store's verbs.

    A transfer reserves what it may buffer before it starts and gives it back when
    it ends; one that needs more than the whole budget runs alone. Small transfers
    (a request each, latency-bound) keep their concurrency while large ones (bytes
    in flight per part) are held to the budget: peak memory does not grow with
    the number of files in flight.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use + size <= self.limit)
            self.in_use += size
        try:
            yield
        finally:
            self.in_use -= size
            await asyncio.shield(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class FreshShared(Generic[K, T]):
    """Identical concurrent calls share one run, but only a run that started after
    the call arrived: an answer never predates its question.

    A call with no run of its key in flight starts one. A call arriving while a
    run is in flight waits for the *next* run, which starts when that one ends
    and serves every call that arrived meanwhile. So at most two runs per key
    exist at once, whatever the number of callers, and each caller's result
    reflects every change that finished before it called.
    """

    def __init__(self, compute: Callable[[K], Awaitable[T]]) -> None:
        self._compute = compute
        self._current: dict[K, asyncio.Future[T]] = {}
        self._next: dict[K, asyncio.Future[T]] = {}

    async def __call__(self, key: K) -> T:
        if key in self._current:
            waiting = self._next.get(key)
            if waiting is None:
                waiting = self._next[key] = self._new_future()
            # shield: one caller giving up (a timeout) must not cancel the others' run.
            return await asyncio.shield(waiting)
        return await asyncio.shield(self._start(key))

    @staticmethod
    def _new_future() -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        # Retrieved here too: a failed run whose callers all gave up logs nothing.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return future

    def _start(self, key: K, result: asyncio.Future[T] | None = None) -> asyncio.Future[T]:
        future = result or self._new_future()
        self._current[key] = future
        task = asyncio.ensure_future(self._compute(key))
        task.add_done_callback(lambda done: self._finish(key, future, done))
        return future

    def _finish(self, key: K, future: asyncio.Future[T], done: asyncio.Future[T]) -> None:
        del self._current[key]
        if done.cancelled():
            future.cancel()
        elif (error := done.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result())
        waiting = self._next.pop(key, None)
        if waiting is not None:
            self._start(key, waiting)
