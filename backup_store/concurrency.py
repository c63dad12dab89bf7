"""Bounded concurrency for async jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
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
