"""The seam between backup-store and object storage: :class:`ObjectIO` and its values.

Every request the stores make to a bucket, container or directory goes through an
:class:`ObjectIO`; the engine, the catalog and the ownership marker share one.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from backup_store.errors import ConfigurationError, StoreUnavailableError
from backup_store.io.capabilities import Capabilities
from backup_store.transfer.files import CHUNK_SIZE, Chunk

T = TypeVar("T")

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Bytes per multipart part; objects up to this size are written in one request."""
DEFAULT_PART_CONCURRENCY = 3
"""Parts of one object in flight at once."""
DEFAULT_COPY_WAIT_SECONDS = 120.0
"""How long :meth:`ObjectIO.copy` waits at most for a copy the service is still making."""
COPY_POLL_FIRST_SECONDS = 0.05
COPY_POLL_MAX_SECONDS = 2.0
"""How often a pending copy is asked about: soon (most copies within an account are
done at once), then at most every 2 s."""


"""Bodies up to this size (manifests, integrity records) are metadata writes."""
READ_WHOLE_LIMIT = 16 * 1024 * 1024
"""The most bytes :meth:`ObjectIO.get` reads by default: a manifest or integrity
record of 100,000 files is under 10 MiB, and a larger object at such a key (written
by another program) must not cost its size in memory."""


class WriteConflict(Exception):
    """A create-only or version-matched write lost against another writer.

    Not a :class:`~backup_store.errors.BackupStoreError`: the engine decides what
    a lost race means for the backup (already exists, changed concurrently...).
    """

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def until_swapped(
    attempt: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    gave_up: Callable[[], BaseException],
) -> T:
    """The one read-then-compare-and-swap loop: run ``attempt`` (reads, a decision,
    then create-only or version-matched writes) again on every :class:`WriteConflict`
    (another writer changed what it read), at most ``attempts`` times; then raise
    ``gave_up()``."""
    for _attempt in range(attempts):
        try:
            return await attempt()
        except WriteConflict:
            continue
    raise gave_up()


@dataclass(frozen=True)
class CopyReach:
    """Which locations an :class:`ObjectIO`'s copies reach: every location of the same
    ``scope`` (one bucket of one service for S3 and GCS, one account for Azure, one
    device for a filesystem). Built from configuration, never holding a credential;
    compared, never printed.

    Attributes:
        scope: the service, its endpoint or account, and what else bounds a copy.
        location: this location within the scope (Azure's container, a folder), as
            :meth:`ObjectIO.copy` takes it in ``source_location``; empty where keys
            already name objects across the scope (S3 and GCS keys are bucket-wide).
    """

    scope: str
    location: str


@dataclass(frozen=True)
class ObjectVersion:
    """What a version-matched write must match: the service's e-tag and/or
    version, and the SHA-256 of the bytes (for emulated compare-and-swap)."""

    e_tag: str | None
    version: str | None
    sha256: str


@dataclass(frozen=True)
class StoredObject:
    """A small object read whole: its bytes and its version."""

    data: bytes
    version: ObjectVersion


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """One listed or inspected object."""

    key: str
    size: int
    last_modified: datetime
    e_tag: str | None


@dataclass(frozen=True)
class Listing:
    """One level of a delimited listing: objects directly under the prefix, and
    the sub-folders (``common prefixes``, without trailing ``/``)."""

    objects: list[ObjectMeta]
    prefixes: list[str]


class UploadGroup:
    """Uploads that become durable together (:meth:`ObjectIO.upload_group`).

    ``persist`` does the work of :meth:`persist`; without it there is none (the
    store's uploads are durable when they return).
    """

    def __init__(self, persist: Callable[[Sequence[str]], Awaitable[None]] | None = None) -> None:
        self._persist = persist

    async def persist(self, keys: Sequence[str]) -> None:
        """Make the objects uploaded at ``keys`` durable; raises a
        :class:`~backup_store.errors.BackupStoreError` when one may not be."""
        if self._persist is not None:
            await self._persist(keys)


class ObjectIO(abc.ABC):
    """Object I/O of one location (bucket, container or directory).

    Keys are relative to the location and use ``/``. Every method raises
    :class:`~backup_store.errors.BackupStoreError` subclasses that name the store
    and the key; conditional writes that lose raise :class:`WriteConflict`.
    Implementations are safe to use from concurrent tasks of one event loop.

    Attributes:
        description: the location, as printed in errors and logs (never credentials).
        capabilities: what the service guarantees natively.
        part_size: bytes per multipart part; streamed objects are split in parts.
        part_concurrency: parts of one object in flight at once.
        customer_key: the objects are written and read with a customer-provided
            encryption key (S3 SSE-C, Azure CPK), sent with every object request.
        copy_wait_seconds: how long :meth:`copy` waits for a pending copy.
    """

    description: str
    capabilities: Capabilities
    part_size: int
    part_concurrency: int
    customer_key: bool = False
    copy_wait_seconds: float = DEFAULT_COPY_WAIT_SECONDS

    @abc.abstractmethod
    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        """Write an object whole (atomically visible); ``create_only`` fails with
        :class:`WriteConflict` when the key exists. A streamed source that raises
        aborts the write and the error propagates."""

    @abc.abstractmethod
    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        """Write an object (atomically visible, overwriting) from a blocking source.

        ``chunks`` is consumed in one transfer thread
        (:func:`~backup_store.transfer.in_transfer_thread`), so reading, hashing
        and writing a file share a thread without a hop per chunk. A chunk need
        only stay valid until the next one is requested (a reused buffer).
        ``one_request``: the source holds at most ``part_size`` bytes; send it
        in one request. A source that raises aborts the write and the error
        propagates; cancelling the caller stops the source and waits for the abort.

        The object need not be durable when this returns, nor invisible while it
        is written (a filesystem writes it in place): upload inside an
        :meth:`upload_group` and :meth:`UploadGroup.persist` the keys before
        writing anything that refers to them. For data files only, which readers
        reach through a manifest written after they persisted.
        """

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        """:meth:`upload` of several small objects (each at most ``part_size`` bytes,
        one request), one after another. Stores that can move them in one
        transfer thread do so (no thread hop per object)."""
        for key, chunks in uploads:
            await self.upload(key, chunks, one_request=True)

    @asynccontextmanager
    async def upload_group(self) -> AsyncIterator[UploadGroup]:
        """Open before the :meth:`upload` calls whose objects become durable together.

        Here every upload is durable when it returns (object stores), so
        :meth:`UploadGroup.persist` has nothing to do.
        """
        yield UploadGroup()

    def upload_memory(self, size: int) -> int:
        """At most how many bytes :meth:`upload` of a ``size``-byte source holds in memory."""
        return min(size, CHUNK_SIZE)

    async def copy(self, source: str, key: str, *, source_location: str | None = None) -> None:
        """Make the object at ``key`` (overwriting) from the one at ``source``, inside
        the service, where :attr:`capabilities` declare ``server_side_copy``; returns
        once the copy is complete. ``source_location``: the source is at that location
        of this I/O's :meth:`reach` (another I/O's ``reach().location``), not here.

        Like :meth:`upload`, for data files only: call it inside an
        :meth:`upload_group` and persist ``key`` with the uploads. The copy takes no
        precondition on the source: the caller checks both objects afterwards.
        :class:`ObjectNotFoundError` when the source is missing.

        Not overridden by implementations or wrappers: it is :meth:`start_copy`, then,
        while the service may still be copying, :meth:`copy_state` until it is done,
        each a request of its own that every wrapper sees.
        """
        if not await self.start_copy(source, key, source_location=source_location):
            return
        pause = COPY_POLL_FIRST_SECONDS
        try:
            async with asyncio.timeout(self.copy_wait_seconds):
                while (state := await self.copy_state(key)) == "pending":
                    await asyncio.sleep(pause)
                    pause = min(2 * pause, COPY_POLL_MAX_SECONDS)
        except TimeoutError:
            raise StoreUnavailableError(
                f"the service's copy was still pending after {self.copy_wait_seconds:g} s",
                store=self.description,
                key=key,
            ) from None
        if state not in (None, "success"):
            raise StoreUnavailableError(
                f"the service's copy ended {state!r}", store=self.description, key=key
            )

    def reach(self) -> CopyReach | None:
        """The locations whose objects :meth:`copy` can copy here (None: only this
        location's, or none where the service cannot copy)."""
        return None

    async def start_copy(
        self, source: str, key: str, *, source_location: str | None = None
    ) -> bool:
        """The copy request of :meth:`copy`: whether the service may still be making the
        copy when it returns (then :meth:`copy_state` tells when it is done)."""
        raise ConfigurationError(f"{self.description} cannot copy objects inside the store")

    async def copy_state(self, key: str) -> str | None:
        """The state of the copy that made the object at ``key``: ``"success"``,
        ``"pending"``, ``"failed"`` or ``"aborted"`` (Azure's ``x-ms-copy-status``),
        None for an object no copy made or a service whose copies are done when
        :meth:`start_copy` returns."""
        return None

    @abc.abstractmethod
    async def download(
        self, key: str, consume: Callable[[Iterator[Chunk]], T], *, size: int | None = None
    ) -> T:
        """``consume(chunks)`` of an object's bytes, run in one transfer thread; its
        result. A chunk is valid only until the next one is requested.
        :class:`ObjectNotFoundError` when the object is missing.

        ``size``: the object's size, when the caller knows it (and reserved
        :meth:`download_memory` of it): a store may then read a large object in
        parallel ranges, still handed to ``consume`` in order, all of one version;
        an object of another size is an :class:`IntegrityError`."""

    def download_memory(self, size: int) -> int:
        """At most how many bytes :meth:`download` of a ``size``-byte object (its
        size given) holds in memory."""
        return min(size, CHUNK_SIZE)

    async def download_each(
        self, downloads: Sequence[tuple[str, Callable[[Iterator[Chunk]], T]]]
    ) -> builtins.list[T]:
        """:meth:`download` of several small objects, one after another; the
        results in order. Stores that can do so read them in one transfer thread."""
        return [await self.download(key, consume) for key, consume in downloads]

    @abc.abstractmethod
    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        """Overwrite ``key`` only if it still holds ``expected`` (compare-and-swap);
        :class:`WriteConflict` otherwise, also when the object is gone."""

    @abc.abstractmethod
    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        """A small object's bytes and version, or None when it does not exist;
        :class:`ObjectTooLargeError`, before its bytes are read, when it has more than
        ``max_size`` bytes (None: any size)."""

    @abc.abstractmethod
    def stream(self, key: str) -> AsyncIterator[bytes]:
        """An object's bytes in chunks; :class:`ObjectNotFoundError` when missing."""

    @abc.abstractmethod
    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` (inclusive) to ``end`` (exclusive) of an object;
        :class:`ObjectNotFoundError` when missing."""

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectMeta | None:
        """An object's metadata, or None when it does not exist."""

    @abc.abstractmethod
    def list(self, prefix: str, *, offset: str | None = None) -> AsyncIterator[list[ObjectMeta]]:
        """Every object under ``prefix`` (a folder: whole path segments), recursively,
        in pages; with ``offset``, only keys after it (see :class:`Capabilities`)."""

    @abc.abstractmethod
    async def list_with_delimiter(self, prefix: str) -> Listing:
        """Objects and sub-folders directly under the folder ``prefix``."""

    @abc.abstractmethod
    async def delete(self, keys: Sequence[str]) -> None:
        """Remove objects; keys that do not exist are not an error."""

    async def prepare_for_writes(self) -> None:  # noqa: B027  (optional hook)
        """Make the location writable before the first write (e.g. create a container)."""

    async def check_location(self, key: str) -> None:
        """Fail with :class:`StoreUnavailableError` naming it when the location (bucket,
        container, directory) does not exist; one read of ``key``, a small object that
        may be absent. A location made by :meth:`prepare_for_writes` passes."""
        await self.get(key)

    async def list_keys(self, prefix: str) -> builtins.list[str]:
        """Every key under the folder ``prefix``."""
        keys: builtins.list[str] = []
        async for page in self.list(prefix):
            keys.extend(meta.key for meta in page)
        return keys
