"""Concurrent lists of one wildcard share the store's work, and no answer predates
its question.

Where listings are ordered (S3, GCS, Azure), a list asked while a run of the same
wildcard is in flight joins it: it takes what the run lists from then on and lists
again only the part the run had already passed, from the start up to where the
run was, while the run goes on. So no list waits for much more than one listing, and each
answer holds every change that finished before it was asked (the run's statuses
are reused only for the very version of a manifest listed again). The lists that
join a run at one point (until it moves on: a chunk listed, a listing ended, or
the run done) share one listing again, started once they were all asked, and one
answer (the same list object).

Where listings are not ordered (the filesystem) a list shares only a run that
started after it was asked (:class:`~backup_store.concurrency.FreshShared`).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from backup_store.catalog import CatalogEntry
from backup_store.concurrency import FreshShared, both, run_bounded
from backup_store.engine import listing
from backup_store.engine.context import StoreContext
from backup_store.engine.runs import ListedChunks, ListingRun, Marks
from backup_store.io import ObjectMeta
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatus

Answer = builtins.list[BackupStatus]
T = TypeVar("T")


@dataclass
class _Run:
    progress: ListingRun
    listed: asyncio.Future[builtins.list[listing.Listed]]
    answer: asyncio.Future[Answer]
    joined: dict[Marks, asyncio.Future[Answer]] = field(default_factory=dict)


class JoinedLists:
    """The lists of one store (see the module): ``await lists(wildcard)``."""

    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx
        self._runs: dict[BackupIdentifierWildcard, _Run] = {}
        self._fresh = FreshShared(self._unordered)

    async def __call__(self, wildcard: BackupIdentifierWildcard) -> Answer:
        """The statuses ``wildcard`` selects; the list may be shared with concurrent
        callers (do not change it)."""
        if not self.ctx.io.capabilities.ordered_listing:
            return await self._fresh(wildcard)
        run = self._runs.get(wildcard)
        if run is None:
            run = self._start(wildcard)
            return await asyncio.shield(run.answer)
        marks = run.progress.marks()
        joined = run.joined.get(marks)
        if joined is None:
            joined = run.joined[marks] = _future(self._join(wildcard, run, marks))
        # shield: one caller giving up (a timeout) must not cancel the others' work.
        return await asyncio.shield(joined)

    def _start(self, wildcard: BackupIdentifierWildcard) -> _Run:
        progress = ListingRun()
        listed = _future(listing.listed_and_recorded(self.ctx, wildcard, progress))
        run = _Run(progress, listed, _future(_statuses(listed)))
        self._runs[wildcard] = run
        listed.add_done_callback(lambda _: self._runs.pop(wildcard, None))
        return run

    async def _unordered(self, wildcard: BackupIdentifierWildcard) -> Answer:
        return [s for s, _ in await listing.listed_and_recorded(self.ctx, wildcard)]

    async def _join(self, wildcard: BackupIdentifierWildcard, run: _Run, marks: Marks) -> Answer:
        """The run's objects listed after ``marks``, the part before listed again."""
        # Lists asked until the run moves on join this one (they share the listing
        # again); then it is closed and lists again, after every one of them was asked.
        if run.progress.marks() == marks:
            waiting = asyncio.ensure_future(run.progress.progressed())
            run.listed.add_done_callback(lambda _: waiting.cancel())
            await asyncio.wait([waiting])  # (ended by the run's progress or its end)
        del run.joined[marks]
        passed = [(p, n) for p, n in marks if n > 0]
        relisted, listed = await both(
            partial(
                run_bounded,
                [partial(_relist, self.ctx, p, run.progress.streams[p], n) for p, n in passed],
                max(len(passed), 1),
            ),
            partial(asyncio.shield, run.listed),
        )
        objects: dict[str, builtins.list[ObjectMeta]] = {}
        for prefix, chunks in run.progress.streams.items():
            objects[prefix] = chunks.after(dict(marks).get(prefix, 0))
        for (prefix, n), head in zip(passed, relisted, strict=True):
            # (The run has ended: where each listing was when this list was asked is known.)
            _, boundary = run.progress.streams[prefix].boundary(n)
            objects[prefix] = [m for m in head if boundary is None or m.key <= boundary]
            objects[prefix] += run.progress.streams[prefix].after(n)
        found = listing.select_manifests(self.ctx, wildcard, objects)
        # What the run read is reused for the very versions listed again.
        read = {entry[0]: entry[1] for _, entry in listed if entry is not None}

        def known(backup_id: BackupIdentifier, key: str, token: str) -> CatalogEntry | None:
            entry = read.get(key)
            if entry is None or entry.token != token or entry.status.id != backup_id:
                return None
            return entry

        return [s for s, _ in await listing.statuses_of(self.ctx, found, known)]


async def _relist(
    ctx: StoreContext, prefix: str, chunks: ListedChunks, passed: int
) -> builtins.list[ObjectMeta]:
    """One listing of the run listed again now, up to the last key of its first
    ``passed`` chunks."""

    async def reached(last_key: str) -> bool:
        # (Waits for the run only for chunks it had asked for when this list was asked.)
        boundary = await chunks.boundary_when_known(passed)
        return boundary is not None and last_key >= boundary

    return await listing.ordered_objects(ctx, prefix, reached=reached)


async def _statuses(listed: asyncio.Future[builtins.list[listing.Listed]]) -> Answer:
    return [s for s, _ in await asyncio.shield(listed)]


def _future(coroutine: Awaitable[T]) -> asyncio.Future[T]:
    task = asyncio.ensure_future(coroutine)
    # Retrieved here too: a failed run whose callers all gave up logs nothing.
    task.add_done_callback(lambda f: f.cancelled() or f.exception())
    return task
