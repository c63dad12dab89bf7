"""What one run of a listing delivered, chunk by chunk, for the lists that join it
(:mod:`.joined`)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field

from backup_store.io import ObjectMeta

Marks = tuple[tuple[str, int], ...]
"""Where a list joined a run: for each ordered listing of the run, how many of its
first chunks may hold keys listed before the list was asked."""


@dataclass
class ListedChunks:
    """One ordered listing of a run: the chunks (:meth:`ObjectIO.list` pages) it
    delivered, each with the last key listed and the objects that matched.

    A chunk is requested when the run asks for it (``started`` counts those asks);
    one service response may fill ``spill`` chunks (None: the whole listing is one
    response), so the objects of a response requested before a given moment are all
    in the first ``started + spill`` chunks counted at that moment.
    """

    spill: int | None
    on_progress: Callable[[], None] | None = None
    started: int = 0
    last_keys: builtins.list[str] = field(default_factory=list)
    objects: builtins.list[builtins.list[ObjectMeta]] = field(default_factory=list)
    ended: bool = False

    def __post_init__(self) -> None:
        self._progressed = asyncio.Event()

    def delivered(self, last_key: str, matching: builtins.list[ObjectMeta]) -> None:
        self.last_keys.append(last_key)
        self.objects.append(matching)
        self._progress()

    def end(self) -> None:
        self.ended = True
        self._progress()

    def _progress(self) -> None:
        self._progressed.set()
        self._progressed = asyncio.Event()
        if self.on_progress is not None:
            self.on_progress()

    def passed(self) -> int:
        """How many first chunks may hold keys listed before now (at most all)."""
        if self.started == 0:
            return 0
        if self.spill is None:
            return 1 << 62
        return self.started + self.spill

    def boundary(self, passed: int) -> tuple[bool, str | None]:
        """Whether the last key of the first ``passed`` chunks is known yet, and that
        key (None: those chunks are the whole listing)."""
        if passed <= len(self.last_keys):
            return True, self.last_keys[passed - 1]
        return self.ended, None

    async def boundary_when_known(self, passed: int) -> str | None:
        """:meth:`boundary`, once known (the run delivers those chunks, or ends)."""
        while True:
            known, key = self.boundary(passed)
            if known:
                return key
            await self._progressed.wait()

    def after(self, passed: int) -> builtins.list[ObjectMeta]:
        """The objects of every chunk after the first ``passed``."""
        return [meta for chunk in self.objects[passed:] for meta in chunk]


@dataclass
class ListingRun:
    """The ordered listings of one run of a list, by prefix, as they progress."""

    streams: dict[str, ListedChunks] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._progressed = asyncio.Event()

    def stream(self, prefix: str, spill: int | None) -> ListedChunks:
        """Record the listing of ``prefix`` (not started yet)."""
        self.streams[prefix] = ListedChunks(spill, self._progress)
        return self.streams[prefix]

    def _progress(self) -> None:
        self._progressed.set()
        self._progressed = asyncio.Event()

    async def progressed(self) -> None:
        """Wait until one of the listings delivers a chunk or ends."""
        await self._progressed.wait()

    def marks(self) -> Marks:
        """Where a list asked now joins this run (a listing not started: nothing passed)."""
        return tuple(sorted((p, chunks.passed()) for p, chunks in self.streams.items()))
