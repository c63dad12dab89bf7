"""Bounded concurrency for async jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


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


class ByteBudget:
    """Bytes that transfers may hold in memory at once, shared by one store's verbs.

    A transfer reserves what it may buffer before it starts and gives it back when
    it ends; one that needs more than the whole budget runs alone. Small transfers
    (a request each, latency-bound) keep their concurrency while large ones (bytes
    in flight per part) are held to the budget: peak memory no longer grows with
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
