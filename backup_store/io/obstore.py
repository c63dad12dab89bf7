""":class:`ObstoreIO`: the :class:`~backup_store.io.base.ObjectIO` over any obstore store
(S3, GCS, Azure, memory), with deadlines; the only module that calls obstore's requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import obstore
from obstore import exceptions as obstore_errors
from obstore.store import ObjectStore

from backup_store.errors import (
    ConfigurationError,
    IntegrityError,
    ObjectTooLargeError,
    StoreUnavailableError,
    describe_error,
)
from backup_store.io.base import (
    DEFAULT_PART_CONCURRENCY,
    DEFAULT_PART_SIZE,
    READ_WHOLE_LIMIT,
    CopyReach,
    Listing,
    ObjectIO,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    WriteConflict,
)
from backup_store.io.capabilities import Capabilities, capabilities_of
from backup_store.io.errors import missing_location, translate_error
from backup_store.transfer.allocator import return_large_blocks
from backup_store.transfer.files import CHUNK_SIZE, Chunk
from backup_store.transfer.threads import TransferCancelled, in_transfer_thread, until_stopped

T = TypeVar("T")

DOWNLOAD_CHUNK_SIZE = 256 * 1024
"""Least bytes per chunk a download hands its consumer: obstore joins the network's
pieces up to this size, so each file being restored holds about twice this much."""
LIST_PAGE = 1000
DEFAULT_METADATA_SECONDS = 30.0
"""Default overall deadline of one metadata request."""
DEFAULT_IDLE_SECONDS = 120.0
"""Default idle timeout of a transfer: no byte moved for this long."""
SMALL_BODY = 1024 * 1024


@dataclass(frozen=True)
class Deadlines:
    """How long the seam waits on a store that stops answering.

    Attributes:
        metadata_seconds: overall deadline of one metadata request: reading or
            writing a manifest or integrity record (a body up to
            :data:`SMALL_BODY`), a head, one listing page, one delete request.
        idle_seconds: a transfer fails when no byte moved for this long; never a
            total deadline, so a 50 GiB upload runs as long as bytes move. Progress
            is seen per chunk the upload takes from its source (the service is
            sent ``part_concurrency`` parts at once) and per chunk downloaded. A
            single-request body above :data:`SMALL_BODY` gets it as its deadline.

    A request past its deadline raises
    :class:`~backup_store.errors.StoreUnavailableError`.
    """

    metadata_seconds: float = DEFAULT_METADATA_SECONDS
    idle_seconds: float = DEFAULT_IDLE_SECONDS

    def __post_init__(self) -> None:
        if not (self.metadata_seconds > 0 and self.idle_seconds > 0):
            raise ConfigurationError(
                f"deadlines must be positive, got {self.metadata_seconds} and {self.idle_seconds}"
            )


def _meta(raw: Any) -> ObjectMeta:
    return ObjectMeta(raw["path"], raw["size"], raw["last_modified"], raw.get("e_tag"))


def sha256_of(data: bytes | AsyncIterator[bytes]) -> str:
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else ""


class ObstoreIO(ObjectIO):
    """:class:`ObjectIO` over an obstore store.

    Args:
        store: the obstore store of the location.
        description: how errors name the location.
        capabilities: declared capabilities (default: :func:`capabilities_of`).
        part_size, part_concurrency: multipart settings.
        batch_delete: delete many keys per request (off for S3-compatible services
            without DeleteObjects).
        prepare: awaited once before the first write (e.g. create the container).
        deadlines: how long to wait on a store that stops answering.
        customer_key: the store's obstore configuration holds a customer-provided
            encryption key (errors then tell a wrong key from a missing one).
        copy_status: for a service whose copies may still be running when the copy
            request returns (Azure's Copy Blob): the copy state of an object
            (``"success"``, ``"pending"``, ``"failed"``, ``"aborted"``, or None for an
            object no copy made): :meth:`copy_state`, which :meth:`copy` asks until
            it is no longer ``"pending"``.
        reach: the locations whose objects this store's copies reach (see
            :class:`CopyReach`).
        copy_across: for a ``reach`` spanning locations that obstore cannot copy
            between (Azure's containers of one account): the copy request from
            ``(location, source, key)``, the source at another location of the reach.
        ranged_reads: a :meth:`download` given the size of an object over two parts
            reads it in ``part_concurrency`` parallel ranges of ``part_size``.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        description: str,
        capabilities: Capabilities | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        part_concurrency: int = DEFAULT_PART_CONCURRENCY,
        batch_delete: bool = True,
        delete_concurrency: int = 8,
        prepare: Callable[[], Awaitable[None]] | None = None,
        deadlines: Deadlines | None = None,
        customer_key: bool = False,
        copy_status: Callable[[str], Awaitable[str | None]] | None = None,
        reach: CopyReach | None = None,
        copy_across: Callable[[str, str, str], Awaitable[None]] | None = None,
        ranged_reads: bool = True,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"part_size must be at least 5 MiB, got {part_size}")
        if part_concurrency < 1:
            raise ConfigurationError("part_concurrency must be at least 1")
        return_large_blocks()  # freed part buffers leave the process (see the module)
        self.store = store
        self.description = description
        self.capabilities = capabilities or capabilities_of(store)
        self.part_size = part_size
        self.part_concurrency = part_concurrency
        self.ranged_reads = ranged_reads
        self.batch_delete = batch_delete
        self.deadlines = deadlines or Deadlines()
        self.customer_key = customer_key
        self.copy_wait_seconds = self.deadlines.idle_seconds
        self._delete_slots = asyncio.Semaphore(delete_concurrency)
        self._prepare = prepare
        self._copy_status = copy_status
        self._reach = reach
        self._copy_across = copy_across
        self._key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    @contextmanager
    def _translated(self, key: str | None) -> Iterator[None]:
        try:
            yield
        except (WriteConflict, asyncio.CancelledError, TransferCancelled):
            raise
        except Exception as error:
            raise translate_error(
                error, store=self.description, key=key, customer_key=self.customer_key
            ) from error

    @asynccontextmanager
    async def _deadline(self, seconds: float, key: str | None) -> AsyncIterator[asyncio.Timeout]:
        """Fail the block with a typed error when it takes longer than ``seconds``
        (an idle timeout when the block reschedules the yielded timeout on progress)."""
        timeout = asyncio.timeout(seconds)
        try:
            async with timeout:
                yield timeout
        except TimeoutError:
            if not timeout.expired():
                raise  # a timeout of the request itself, translated as such
            raise StoreUnavailableError(
                f"the store stopped answering: nothing for {seconds:g} s", key=key
            ) from None

    async def _metadata(self, key: str | None, request: Awaitable[T]) -> T:
        async with self._deadline(self.deadlines.metadata_seconds, key):
            return await request

    async def _next_within(self, seconds: float, key: str, items: AsyncIterator[T]) -> T | None:
        """The next item of a paged or chunked response, None at its end."""
        async with self._deadline(seconds, key):
            return await anext(items, None)

    async def prepare_for_writes(self) -> None:
        if self._prepare is not None:
            await self._prepare()
            self._prepare = None

    async def check_location(self, key: str) -> None:
        # A GET, not a HEAD: only an error body tells a missing bucket from a missing key.
        with self._translated(key):
            try:
                async with self._deadline(self.deadlines.metadata_seconds, key):
                    await (await obstore.get_async(self.store, key)).bytes_async()
            except (FileNotFoundError, obstore_errors.NotFoundError) as error:
                if self._prepare is None and missing_location(error, self.description):
                    raise

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        return await self._put(key, data, "create" if create_only else "overwrite")

    async def _put(self, key: str, data: bytes | AsyncIterator[bytes], mode: Any) -> ObjectVersion:
        if isinstance(data, bytes):
            return await self._put_once(key, data, mode)
        # obstore aborts a multipart upload when its source raises, but not when
        # the awaiting task is cancelled (the upload would stay, billed, until a
        # lifecycle rule removes it): on cancellation the source raises at its
        # next chunk, and the put is awaited until it has failed.
        stop = _StopFlag()
        upload = asyncio.ensure_future(self._put_once(key, stop.guard(data), mode))
        try:
            return await asyncio.shield(upload)
        except asyncio.CancelledError:
            stop.raised = True
            with suppress(BaseException):
                await upload
            raise

    async def _put_once(
        self, key: str, data: bytes | AsyncIterator[bytes], mode: Any
    ) -> ObjectVersion:
        small = isinstance(data, bytes) and len(data) <= SMALL_BODY
        seconds = self.deadlines.metadata_seconds if small else self.deadlines.idle_seconds
        with self._put_errors(key, conditional=mode != "overwrite"):
            async with self._deadline(seconds, key) as timeout:
                body = data if isinstance(data, bytes) else _moving(data, timeout, seconds)
                result = await obstore.put_async(
                    self.store,
                    key,
                    body,
                    mode=mode,
                    chunk_size=self.part_size,
                    max_concurrency=self.part_concurrency,
                )
        return ObjectVersion(result.get("e_tag"), result.get("version"), sha256_of(data))

    @contextmanager
    def _put_errors(self, key: str, *, conditional: bool = True) -> Iterator[None]:
        """Errors of a write. An unconditional one loses no race: a conflict the
        service reports (a retried completion whose first attempt took effect, say)
        is a failed request, not a :class:`WriteConflict`."""
        with self._translated(key):
            try:
                yield
            except (obstore_errors.AlreadyExistsError, obstore_errors.PreconditionError) as error:
                if conditional:
                    raise WriteConflict(key) from None
                raise StoreUnavailableError(
                    f"the service refused the write: {describe_error(error)}", key=key
                ) from None
            except (FileNotFoundError, obstore_errors.NotFoundError):
                raise StoreUnavailableError(
                    "the bucket or container does not exist", key=key
                ) from None

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        def send(stop: threading.Event) -> None:
            source = until_stopped(chunks, stop)
            with self._put_errors(key, conditional=False):
                if one_request:
                    whole = bytearray()
                    for chunk in source:
                        whole += chunk
                    obstore.put(self.store, key, whole, chunk_size=self.part_size)
                    return
                # obstore keeps chunks until their part is sent: hand it copies.
                obstore.put(
                    self.store,
                    key,
                    (bytes(chunk) for chunk in source),
                    chunk_size=self.part_size,
                    max_concurrency=self.part_concurrency,
                )

        await in_transfer_thread(send, idle_seconds=self.deadlines.idle_seconds)

    def reach(self) -> CopyReach | None:
        return self._reach if self.capabilities.server_side_copy else None

    async def start_copy(
        self, source: str, key: str, *, source_location: str | None = None
    ) -> bool:
        here = source_location is None or (
            self._reach is not None and source_location == self._reach.location
        )
        if not self.capabilities.server_side_copy or not (here or self._copy_across):
            return await super().start_copy(source, key, source_location=source_location)
        with self._translated(key):
            # Copying is the service's work: its time grows with the size, like a transfer.
            async with self._deadline(self.deadlines.idle_seconds, key):
                if here:
                    await obstore.copy_async(self.store, source, key, overwrite=True)
                else:
                    assert self._copy_across is not None and source_location is not None
                    await self._copy_across(source_location, source, key)
        return self._copy_status is not None

    async def copy_state(self, key: str) -> str | None:
        if self._copy_status is None:
            return None
        with self._translated(key):
            return await self._metadata(key, self._copy_status(key))

    def upload_memory(self, size: int) -> int:
        if size <= self.part_size:
            return 2 * size  # the whole source, and obstore's copy of it
        # the part being filled and the parts in flight
        return (self.part_concurrency + 1) * self.part_size

    def download_memory(self, size: int) -> int:
        if self._ranged(size):
            return (self.part_concurrency + 1) * self.part_size  # ranges in flight, one consumed
        return 2 * DOWNLOAD_CHUNK_SIZE

    def _ranged(self, size: int) -> bool:
        """Whether an object of ``size`` bytes is read in parallel ranges: one
        connection tops out below the link, and past two parts the ranges pay."""
        return self.ranged_reads and self.part_concurrency > 1 and size > 2 * self.part_size

    async def download(
        self, key: str, consume: Callable[[Iterator[Chunk]], T], *, size: int | None = None
    ) -> T:
        if size is not None and self._ranged(size):
            loop = asyncio.get_running_loop()

            def ranged(stop: threading.Event) -> T:
                return consume(self._ranges(key, size, stop, loop))

            return await in_transfer_thread(ranged, idle_seconds=self.deadlines.idle_seconds)
        return await in_transfer_thread(
            lambda stop: consume(self._chunks(key, stop)), idle_seconds=self.deadlines.idle_seconds
        )

    def _ranges(
        self, key: str, size: int, stop: threading.Event, loop: asyncio.AbstractEventLoop
    ) -> Iterator[Chunk]:
        """An object's bytes, in order, read as ranges of ``part_size`` with
        ``part_concurrency`` in flight (in the calling transfer thread; the requests
        run on ``loop``). Every range after the first is asked of the same version
        (its ETag); an object of another size is an :class:`IntegrityError`."""
        starts = deque(range(self.part_size, size, self.part_size))
        in_flight: deque[Future[memoryview]] = deque()
        with self._translated(key):
            try:
                first = obstore.get(self.store, key, options={"range": (0, self.part_size)})
                if first.meta["size"] != size:
                    raise IntegrityError(
                        f"the object's size is {first.meta['size']} bytes, not the {size} recorded",
                        key=key,
                    )
                e_tag = first.meta.get("e_tag")

                def request_more(limit: int) -> None:
                    while starts and len(in_flight) < limit:
                        start = starts.popleft()
                        in_flight.append(self._range_request(key, start, size, e_tag, loop))

                request_more(self.part_concurrency - 1)  # the first range is one
                yield from until_stopped(first.stream(min_chunk_size=DOWNLOAD_CHUNK_SIZE), stop)
                while in_flight:
                    data = _awaited(in_flight.popleft(), stop)
                    request_more(self.part_concurrency)
                    yield from until_stopped((data,), stop)
            finally:
                for request in in_flight:
                    request.cancel()

    def _range_request(
        self, key: str, start: int, size: int, e_tag: str | None, loop: asyncio.AbstractEventLoop
    ) -> Future[memoryview]:
        end = min(start + self.part_size, size)
        options: Any = {"range": (start, end)} | ({"if_match": e_tag} if e_tag else {})

        async def request() -> memoryview:
            result = await obstore.get_async(self.store, key, options=options)
            return memoryview(await result.bytes_async())

        return asyncio.run_coroutine_threadsafe(request(), loop)

    def _chunks(self, key: str, stop: threading.Event) -> Iterator[Chunk]:
        """An object's chunks, read in the calling (transfer) thread."""
        with self._translated(key):
            result = obstore.get(self.store, key)
            chunks = result.stream(min_chunk_size=DOWNLOAD_CHUNK_SIZE)
            yield from until_stopped(chunks, stop)

    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        if self.capabilities.native_compare_and_swap and (expected.e_tag or expected.version):
            match = {k: v for k, v in (("e_tag", expected.e_tag), ("version", expected.version))}
            return await self._put(key, data, {k: v for k, v in match.items() if v})
        async with self._exclusive(key):
            current = await self.get(key)
            if current is None or current.version.sha256 != expected.sha256:
                raise WriteConflict(key)
            return await self.put(key, data)

    @asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        """Serialise emulated compare-and-swap cycles on one key (in this process)."""
        lock = self._key_locks.get(key)
        if lock is None:
            lock = self._key_locks[key] = asyncio.Lock()
        async with lock:
            yield

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        with self._translated(key):
            try:
                async with self._deadline(self.deadlines.metadata_seconds, key):
                    result = await obstore.get_async(self.store, key)
                    size = result.meta["size"]
                    if max_size is not None and size > max_size:
                        raise ObjectTooLargeError(key, size, max_size)  # body left unread
                    data = bytes(await result.bytes_async())
            except (FileNotFoundError, obstore_errors.NotFoundError):
                return None
        meta = result.meta
        return StoredObject(
            data, ObjectVersion(meta["e_tag"], meta["version"], hashlib.sha256(data).hexdigest())
        )

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        with self._translated(key):
            result = await self._metadata(key, obstore.get_async(self.store, key))
            chunks = result.stream(min_chunk_size=CHUNK_SIZE)
            idle = self.deadlines.idle_seconds
            while (chunk := await self._next_within(idle, key, chunks)) is not None:
                yield bytes(chunk)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        with self._translated(key):
            return bytes(await obstore.get_range_async(self.store, key, start=start, end=end))

    async def head(self, key: str) -> ObjectMeta | None:
        with self._translated(key):
            try:
                return _meta(await self._metadata(key, obstore.head_async(self.store, key)))
            except (FileNotFoundError, obstore_errors.NotFoundError):
                return None

    async def list(
        self, prefix: str, *, offset: str | None = None
    ) -> AsyncIterator[list[ObjectMeta]]:
        with self._translated(prefix):
            pages = obstore.list(
                self.store, prefix.rstrip("/") or None, offset=offset, chunk_size=LIST_PAGE
            )
            seconds = self.deadlines.metadata_seconds
            while (page := await self._next_within(seconds, prefix, pages)) is not None:
                yield [_meta(raw) for raw in page]

    async def list_with_delimiter(self, prefix: str) -> Listing:
        with self._translated(prefix):
            try:
                raw = await self._metadata(
                    prefix,
                    obstore.list_with_delimiter_async(self.store, prefix.rstrip("/") or None),
                )
            except (FileNotFoundError, obstore_errors.NotFoundError):
                return Listing([], [])
        return Listing([_meta(m) for m in raw["objects"]], list(raw["common_prefixes"]))

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self._translated(keys[0]):
            if self.batch_delete:
                try:
                    for start in range(0, len(keys), LIST_PAGE):  # one request per batch
                        batch = list(keys[start : start + LIST_PAGE])
                        await self._metadata(batch[0], obstore.delete_async(self.store, batch))
                    return
                except (FileNotFoundError, obstore_errors.NotFoundError):
                    pass  # one was already gone (a concurrent delete): the rest one by one

            async def one(key: str) -> None:
                async with self._delete_slots:
                    with suppress(FileNotFoundError, obstore_errors.NotFoundError):
                        await self._metadata(key, obstore.delete_async(self.store, key))

            await asyncio.gather(*(one(key) for key in keys))


class UploadCancelled(Exception):
    """Raised by the source of a streamed put whose caller was cancelled."""


class _StopFlag:
    """Makes a streamed source raise :class:`UploadCancelled` once ``raised`` is set."""

    raised = False

    async def guard(self, data: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in data:
            if self.raised:
                raise UploadCancelled
            yield chunk
        if self.raised:  # never complete an upload whose caller is gone
            raise UploadCancelled


async def _moving(
    chunks: AsyncIterator[bytes], idle: asyncio.Timeout, seconds: float
) -> AsyncIterator[bytes]:
    """The chunks, pushing the idle timeout back each time one is taken."""
    loop = asyncio.get_running_loop()
    async for chunk in chunks:
        idle.reschedule(loop.time() + seconds)
        yield chunk


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _awaited(request: Future[T], stop: threading.Event) -> T:
    """The result of a request running on the event loop, waited for in a transfer
    thread; :class:`TransferCancelled` once ``stop`` is set."""
    while True:
        try:
            return request.result(timeout=0.25)
        except TimeoutError:
            if stop.is_set():
                raise TransferCancelled from None
