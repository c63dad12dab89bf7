"""Transfer threads: a file moves through one thread that reads, hashes,
(de)compresses and writes it as blocking iterators, cancelled and idle-timed
from the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from backup_store.errors import StoreUnavailableError
from backup_store.transfer.files import Chunk
from backup_store.transfer.priority import apply_disk_priority

T = TypeVar("T")


async def iterate_in_thread(chunks: Iterator[Chunk]) -> AsyncIterator[bytes]:
    """A blocking iterator as an async one: one worker-thread hop per chunk, each
    chunk copied (the iterator may reuse its buffer). For tools, not the byte path."""

    def next_copy() -> bytes | None:
        chunk = next(chunks, None)
        return None if chunk is None else bytes(chunk)

    while (chunk := await asyncio.to_thread(next_copy)) is not None:
        yield chunk


def blocking(chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> Iterator[bytes]:
    """An async stream as a blocking iterator, for a transfer thread: each chunk is
    fetched on ``loop`` (which must not be the calling thread's)."""
    while chunk := asyncio.run_coroutine_threadsafe(anext(chunks, b""), loop).result():
        yield chunk


class TransferCancelled(Exception):
    """Raised inside a transfer thread whose awaiting task was cancelled."""


_TRANSFER_THREADS = ThreadPoolExecutor(max_workers=256, thread_name_prefix="backup-store-transfer")


class TransferControl(threading.Event):
    """Set to stop a transfer thread; also records when a chunk last moved."""

    def __init__(self) -> None:
        super().__init__()
        self.moved = time.monotonic()


async def in_transfer_thread(
    work: Callable[[threading.Event], T], *, idle_seconds: float | None = None
) -> T:
    """Run blocking ``work(stop)`` in a transfer thread (not the shared default
    pool, so file I/O, hashing and fsync do not queue behind other work).

    When the awaiting task is cancelled, ``stop`` is set and the cancellation
    waits for ``work`` to end: nothing keeps writing after a verb has returned.
    With ``idle_seconds``, it waits no longer than a transfer may stay idle (a
    request stalled on a store that stopped answering moves nothing meanwhile).
    ``work`` should check ``stop`` between chunks (see :func:`until_stopped`).

    With ``idle_seconds``, a transfer in which no chunk moved for that long (a
    store that stopped answering) is stopped and raises
    :class:`~backup_store.errors.StoreUnavailableError`; the blocked request ends
    on its own (its source refuses any further chunk).
    """
    stop = TransferControl()
    future = asyncio.get_running_loop().run_in_executor(_TRANSFER_THREADS, _prioritized, work, stop)
    try:
        if not await _ended_while_moving(future, stop, idle_seconds):
            _abandon(future, stop)
            raise StoreUnavailableError(
                f"the store stopped answering: nothing for {idle_seconds:g} s"
            )
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        _abandon(future, stop)
        # A request stalled on a store that stopped answering is not waited for
        # past the idle timeout either (it ends on its own; nothing moves meanwhile).
        await _ended_while_moving(future, stop, idle_seconds)
        raise


def _prioritized(work: Callable[[threading.Event], T], stop: threading.Event) -> T:
    apply_disk_priority()
    return work(stop)


def _abandon(future: asyncio.Future[T], stop: threading.Event) -> None:
    """Stop ``work`` whose result nobody will take: the error that ends it
    (:class:`TransferCancelled`, or one the stop provoked) follows the caller's
    own cancellation or timeout, which is what gets reported; it is retrieved
    here so that asyncio does not log it as never retrieved."""
    stop.set()
    future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _ended_while_moving(
    future: asyncio.Future[T], stop: TransferControl, idle_seconds: float | None
) -> bool:
    """Wait for ``future``; False once nothing moved for ``idle_seconds`` before it ended."""
    if idle_seconds is None:
        await asyncio.wait([future])
        return True
    while not (await asyncio.wait({future}, timeout=min(idle_seconds / 4, 1.0)))[0]:
        if time.monotonic() - stop.moved > idle_seconds:
            return False
    return True


def until_stopped(chunks: Iterable[T], stop: threading.Event) -> Iterator[T]:
    """Pass chunks through; raise :class:`TransferCancelled` once ``stop`` is set."""
    for chunk in chunks:
        if stop.is_set():
            raise TransferCancelled
        if isinstance(stop, TransferControl):
            stop.moved = time.monotonic()
        yield chunk
