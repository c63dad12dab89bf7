"""What every verb of the engine works with: one :class:`StoreContext` per store.

A verb module (:mod:`.save`, :mod:`.restore`, :mod:`.delete`, ...) is a set of
functions over the context: the location's object I/O, its format and base path,
the listing catalog and the ownership marker, all built over the one I/O, so that
whatever wraps it sees every request.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from backup_store.catalog import Catalog
from backup_store.concurrency import ByteBudget, run_bounded
from backup_store.contract.inspectable import TransferCounters
from backup_store.engine.ownership import OwnershipMarker
from backup_store.format.formats import StoreFormat
from backup_store.format.keys import KeyLayout
from backup_store.io import ObjectIO
from backup_store.transfer.files import CHUNK_SIZE

T = TypeVar("T")

SMALL_FILE = CHUNK_SIZE
"""Files up to this size move in batches (:meth:`ObjectIO.upload_each`, ``download_each``)."""
BATCH_FILES = 64
"""At most this many small files per batch."""


@dataclass
class StoreContext:
    """One location as the verbs see it."""

    io: ObjectIO
    kind: str
    format: StoreFormat
    base_path: str | None
    compression: str | None
    max_concurrency: int
    memory_budget: ByteBudget
    incremental: bool = True
    """A save copies a file inside the store from an earlier backup holding the same
    bytes, where the seam can (:mod:`.save`)."""
    counters: TransferCounters = field(default_factory=TransferCounters)
    owner: OwnershipMarker = field(init=False)
    catalog: Catalog = field(init=False)

    def __post_init__(self) -> None:
        self.owner = OwnershipMarker(self.io, self.kind, self.base_path)
        self.catalog = Catalog(self.io, self.base_path)

    @property
    def description(self) -> str:
        return self.io.description

    def read_layouts(self) -> builtins.list[KeyLayout]:
        """Every layout the store reads, in lookup order."""
        return self.format.read_layouts(self.base_path)

    def write_layout(self, broker_version: str | None) -> KeyLayout:
        """The layout a backup of ``broker_version`` is written in."""
        return self.format.write_layout(self.base_path, broker_version)

    async def bounded(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> builtins.list[T]:
        """Run ``jobs`` at most :attr:`max_concurrency` at a time; results in order."""
        return await run_bounded(jobs, self.max_concurrency)

    async def batched(
        self,
        count: int,
        small: Callable[[int], bool],
        job: Callable[[builtins.list[int]], Awaitable[builtins.list[T]]],
    ) -> builtins.list[T]:
        """``job`` of items ``0..count-1`` with bounded concurrency: each large item
        alone, small ones in batches (see :func:`batches`); results in item order.

        A file transfer costs the event loop a task, a thread hop and their
        futures: for thousands of small files that, not the bytes, was the work.
        """
        smalls = [i for i in range(count) if small(i)]
        alone = sorted(set(range(count)) - set(smalls))
        jobs = [[i] for i in alone] + batches(smalls, self.max_concurrency)
        results: dict[int, T] = {}
        done = await self.bounded([partial(job, batch) for batch in jobs])
        for batch, found in zip(jobs, done, strict=True):
            results.update(zip(batch, found, strict=True))
        return [results[i] for i in range(count)]


def batches(items: Sequence[int], lanes: int) -> builtins.list[builtins.list[int]]:
    """``items`` in consecutive batches of at most :data:`BATCH_FILES`, and at least
    ``lanes`` batches when there are that many items: batching never costs concurrency."""
    size = max(1, min(BATCH_FILES, -(-len(items) // lanes)))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
