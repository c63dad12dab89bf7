"""The one seam between backup-store and object storage.

Every request the stores make to a bucket, container or directory goes through
an :class:`ObjectIO`. This module is the only one that calls obstore (backend
modules only *construct* obstore stores from their configurations) and the
only place where obstore's and the operating system's errors are translated
into :mod:`backup_store.errors`, each stamped with the store and the key.

Implementations:

* :class:`ObstoreIO` over any obstore ``ObjectStore`` (S3, GCS, Azure, memory);
* :class:`LocalFileIO`, its filesystem variant: durable writes (temporary file,
  fsync, exclusive link or atomic rename, directory fsync), data uploads written
  in place and made durable together (one ``syncfs``), direct file reads,
  and version-matched writes emulated under a cross-process ``flock``;
* :class:`HookedIO`, which forwards every request to another ``ObjectIO`` after
  an awaited hook: where tests count requests, inject latency, or pause one
  chosen request to force an interleaving.

What a backend can and cannot do is declared, not guessed: see
:class:`Capabilities` and :func:`capabilities_of`.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import fcntl
import hashlib
import os
import re
import stat
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiofiles
import obstore
from obstore import exceptions as obstore_errors
from obstore.store import AzureStore, GCSStore, LocalStore, MemoryStore, ObjectStore, S3Store

from backup_store.errors import (
    BackupStoreError,
    ConfigurationError,
    InvalidBackupStateError,
    ObjectNotFoundError,
    ObjectTooLargeError,
    StoreUnavailableError,
    describe_error,
)
from backup_store.transfer import (
    CHUNK_SIZE,
    Chunk,
    FolderSync,
    TransferCancelled,
    blocking,
    fsync_directory,
    in_transfer_thread,
    read_whole_file,
    until_stopped,
    write_chunks,
)

T = TypeVar("T")

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Bytes per multipart part; objects up to this size are written in one request."""
DEFAULT_PART_CONCURRENCY = 3
"""Parts of one object in flight at once."""
DOWNLOAD_CHUNK_SIZE = 256 * 1024
"""Least bytes per chunk a download hands its consumer: obstore joins the network's
pieces up to this size, so each file being restored holds about twice this much."""
LIST_PAGE = 1000
DEFAULT_METADATA_SECONDS = 30.0
"""Default overall deadline of one metadata request."""
DEFAULT_IDLE_SECONDS = 120.0
"""Default idle timeout of a transfer: no byte moved for this long."""
SMALL_BODY = 1024 * 1024
"""Bodies up to this size (manifests, integrity records) are metadata writes."""
READ_WHOLE_LIMIT = 16 * 1024 * 1024
"""The most bytes :meth:`ObjectIO.get` reads by default: a manifest or integrity
record of 100,000 files is under 10 MiB, and a larger object at such a key (written
by another program) must not cost its size in memory."""


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


class WriteConflict(Exception):
    """A create-only or version-matched write lost against another writer.

    Not a :class:`~backup_store.errors.BackupStoreError`: the engine decides what
    a lost race means for the backup (already exists, changed concurrently...).
    """

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Capabilities:
    """What a storage service guarantees natively, as declared for its backend.

    Attributes:
        native_compare_and_swap: version-matched writes are checked by the service
            (e-tag or generation); otherwise :class:`ObstoreIO` emulates them by
            comparing bytes under a lock (in this process, or across processes
            for :class:`LocalFileIO`).
        ordered_listing: recursive listings return keys in lexicographic order.
        server_side_list_offset: ``list(offset=...)`` is answered by the service
            (S3 ``start-after``, GCS ``startOffset``); otherwise obstore filters
            the whole listing on the client.
        aborts_interrupted_uploads: a multipart upload whose source fails is
            aborted, leaving no parts behind (Azure instead discards uncommitted
            blocks after a week; a kill -9 leaves parts on every service).
    """

    native_compare_and_swap: bool
    ordered_listing: bool
    server_side_list_offset: bool
    aborts_interrupted_uploads: bool
    max_key_bytes: int | None = None
    """The longest key the service stores, in UTF-8 bytes, base path included
    (S3 and GCS: 1,024; Azure: 1,024 characters)."""
    max_segment_bytes: int | None = None
    """The longest path segment, in UTF-8 bytes (a filesystem's ``NAME_MAX``, 255)."""

    def key_problem(self, key: str) -> str | None:
        """Why ``key`` cannot be stored, listed, read and deleted here; None when it can.

        Beyond the declared limits, no service takes a control character: some
        store it but can then never list or delete it.
        """
        if control := _CONTROL.search(key):
            return f"it contains the control character U+{ord(control.group()):04X}"
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            return "it is not valid Unicode text"
        if self.max_key_bytes is not None and size > self.max_key_bytes:
            return (
                f"its object key is {size} bytes, over the store's limit of "
                f"{self.max_key_bytes} bytes (base path included)"
            )
        if self.max_segment_bytes is not None:
            for segment in key.split("/"):
                if len(segment.encode("utf-8")) > self.max_segment_bytes:
                    return (
                        f"{segment!r} is {len(segment.encode('utf-8'))} bytes, over the "
                        f"store's limit of {self.max_segment_bytes} bytes per name"
                    )
        return None


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CLOUD_KEY_BYTES = 1024
"""S3, GCS and Azure keep keys of up to 1,024 bytes (Azure: characters)."""
NAME_MAX = 255
"""The longest file name of the filesystems a store folder lives on (Linux, macOS)."""

_CAPABILITIES: dict[type[Any], Capabilities] = {
    S3Store: Capabilities(True, True, True, True, max_key_bytes=CLOUD_KEY_BYTES),
    GCSStore: Capabilities(True, True, True, True, max_key_bytes=CLOUD_KEY_BYTES),
    AzureStore: Capabilities(True, True, False, False, max_key_bytes=CLOUD_KEY_BYTES),
    MemoryStore: Capabilities(True, True, False, True),
    LocalStore: Capabilities(False, False, False, True, max_segment_bytes=NAME_MAX),
}


def capabilities_of(store: ObjectStore) -> Capabilities:
    """The declared capabilities of an obstore store type."""
    for store_type, capabilities in _CAPABILITIES.items():
        if isinstance(store, store_type):
            return capabilities
    raise ConfigurationError(f"no capabilities are declared for {type(store).__name__}")


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


_MISSING_LOCATION = re.compile(r"<Code>(NoSuchBucket|ContainerNotFound)</Code>")
_BUCKET_NAME = re.compile(r"<BucketName>([^<]+)</BucketName>")


def missing_location(error: BaseException, store: str) -> str | None:
    """ "bucket X does not exist" when a service's error body says so (S3's and GCS's
    ``NoSuchBucket``, Azure's ``ContainerNotFound``; obstore keeps the body in its
    message), else None."""
    text = str(error)
    code = _MISSING_LOCATION.search(text)
    if code is None:
        return None
    named = _BUCKET_NAME.search(text)
    # The store's description starts with its URL: s3://bucket/..., az://container.
    name = named.group(1) if named else urlsplit(store.split(" ")[0]).hostname or "?"
    what = "container" if code.group(1) == "ContainerNotFound" else "bucket"
    return f"{what} {name} does not exist"


_REQUEST_URL = re.compile(r"Error performing [A-Z]+ (\w+://[^\s/?]+)")
_CAUSES = (
    # (pattern in obstore's full error text, what it means and what to do)
    (re.compile(r"169\.254\.169\.254|fd00:ec2::254"),
     "no credentials found (none given, none in AWS_* variables or a profile, and the instance "
     "metadata service gave none): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the store "
     "variables ..._S3_ACCESSKEY and ..._S3_SECRETKEY, or the URL options access_key_id and "
     "secret_access_key"),
    (re.compile(r"SignatureDoesNotMatch|InvalidAccessKeyId|AuthenticationFailed|InvalidSignature"),
     "the credentials were refused (the signature does not match: wrong secret key, or a key "
     "the service does not know): check the access key and secret"),
    (re.compile(r"ConnectionRefused|Connection refused"),
     "connection refused by {host}: nothing listens there (is the service running, is the "
     "endpoint's port right?)"),
    (re.compile(r"dns error|failed to lookup address|Name or service not known"),
     "cannot resolve the host name {host} (DNS): check the endpoint"),
    (re.compile(r"InvalidContentType|InvalidCertificate|UnknownIssuer|CorruptMessage|"
                r"certificate verify failed|HandshakeFailure|tls handshake"),
     "TLS failed with {host}: the endpoint does not speak https (use http://), or its "
     "certificate is not trusted"),
    (re.compile(r"kind: Timeout|TimedOut|timed out|deadline has elapsed"),
     "{host} did not answer in time (timeout): check the endpoint and the network"),
)  # fmt: skip


def failure_cause(error: BaseException) -> str | None:
    """What a failed request's full text (obstore keeps the cause chain in it) says
    went wrong, with the fix; None when it names no cause known here."""
    text = str(error)
    for pattern, meaning in _CAUSES:
        if pattern.search(text):
            url = _REQUEST_URL.search(text)
            host = urlsplit(url.group(1)).netloc if url else ""
            return meaning.format(host=host or "the endpoint")
    return None


def translate_error(error: BaseException, *, store: str, key: str | None) -> BackupStoreError:
    """Map an obstore or OS exception to :mod:`backup_store.errors`, scrubbed of
    anything that could carry a credential, with the store and key."""
    if isinstance(error, BackupStoreError):
        return error.with_context(store=store, key=key)
    detail = describe_error(error)
    error_type: type[BackupStoreError]
    missing = missing_location(error, store)
    cause = failure_cause(error) if isinstance(error, obstore_errors.BaseError) else None
    if missing is not None:
        error_type, message = StoreUnavailableError, missing
    elif cause is not None:
        error_type, message = StoreUnavailableError, cause
    elif isinstance(error, obstore_errors.NotFoundError | FileNotFoundError):
        error_type, message = ObjectNotFoundError, f"object not found: {detail}"
    elif isinstance(error, obstore_errors.AlreadyExistsError | obstore_errors.PreconditionError):
        error_type = InvalidBackupStateError
        message = f"a concurrent writer changed the object first: {detail}"
    elif isinstance(
        error, obstore_errors.PermissionDeniedError | obstore_errors.UnauthenticatedError
    ):
        error_type, message = StoreUnavailableError, f"access denied: {detail}"
    elif isinstance(error, obstore_errors.UnknownConfigurationKeyError):
        error_type, message = ConfigurationError, f"invalid store configuration: {detail}"
    elif isinstance(error, obstore_errors.BaseError | OSError):
        error_type, message = StoreUnavailableError, f"storage request failed: {detail}"
    else:
        error_type, message = BackupStoreError, f"{type(error).__name__}: {detail}"
    return error_type(message, store=store, key=key)


def _is_missing(error: BaseException) -> bool:
    return isinstance(error, FileNotFoundError | obstore_errors.NotFoundError)


def _meta(raw: Any) -> ObjectMeta:
    return ObjectMeta(raw["path"], raw["size"], raw["last_modified"], raw.get("e_tag"))


def _sha256(data: bytes | AsyncIterator[bytes]) -> str:
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else ""


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
    """

    description: str
    capabilities: Capabilities
    part_size: int
    part_concurrency: int

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

    @abc.abstractmethod
    async def download(self, key: str, consume: Callable[[Iterator[Chunk]], T]) -> T:
        """``consume(chunks)`` of an object's bytes, run in one transfer thread; its
        result. A chunk is valid only until the next one is requested.
        :class:`ObjectNotFoundError` when the object is missing."""

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
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"part_size must be at least 5 MiB, got {part_size}")
        if part_concurrency < 1:
            raise ConfigurationError("part_concurrency must be at least 1")
        self.store = store
        self.description = description
        self.capabilities = capabilities or capabilities_of(store)
        self.part_size = part_size
        self.part_concurrency = part_concurrency
        self.batch_delete = batch_delete
        self.deadlines = deadlines or Deadlines()
        self._delete_slots = asyncio.Semaphore(delete_concurrency)
        self._prepare = prepare
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
            raise translate_error(error, store=self.description, key=key) from error

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
        with self._put_errors(key):
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
        return ObjectVersion(result.get("e_tag"), result.get("version"), _sha256(data))

    @contextmanager
    def _put_errors(self, key: str) -> Iterator[None]:
        with self._translated(key):
            try:
                yield
            except (obstore_errors.AlreadyExistsError, obstore_errors.PreconditionError):
                raise WriteConflict(key) from None
            except (FileNotFoundError, obstore_errors.NotFoundError):
                raise StoreUnavailableError(
                    "the bucket or container does not exist", key=key
                ) from None

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        def send(stop: threading.Event) -> None:
            source = until_stopped(chunks, stop)
            with self._put_errors(key):
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

    def upload_memory(self, size: int) -> int:
        if size <= self.part_size:
            return 2 * size  # the whole source, and obstore's copy of it
        # the part being filled and the parts in flight
        return (self.part_concurrency + 1) * self.part_size

    async def download(self, key: str, consume: Callable[[Iterator[Chunk]], T]) -> T:
        return await in_transfer_thread(
            lambda stop: consume(self._chunks(key, stop)), idle_seconds=self.deadlines.idle_seconds
        )

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


FOLDER_ATTEMPTS = 5
"""Times a write makes its folder again when a concurrent delete removes it."""
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _create_new(path: Path, root: Path, *, replace: bool = False) -> tuple[int, list[Path]]:
    """``path`` created and open for writing, with the folders whose entries changed
    when its missing folders were made (to fsync). A delete removes the folders it
    empties (``LocalStore``'s cleanup), also one made here a moment ago: it is made
    again. ``replace``: a file already there (left by a killed save, or by an earlier
    backup of the id) is unlinked, never truncated: it may be a hard link."""
    changed: list[Path] = []
    for _attempt in range(FOLDER_ATTEMPTS):
        try:
            return os.open(path, _NEW_FILE, 0o644), changed
        except FileExistsError:
            if not replace:
                raise
            path.unlink(missing_ok=True)
        except FileNotFoundError:
            changed += _make_folders(path.parent, root)
    return os.open(path, _NEW_FILE, 0o644), changed


def _make_folders(folder: Path, root: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; the parents of those made."""
    missing = []
    current = folder
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    # pathlib's mkdir says FileExistsError when a folder it found existing was removed
    # before it could check it is one: the caller's next attempt makes it again.
    with suppress(FileExistsError):
        folder.mkdir(parents=True, exist_ok=True)
    return [d.parent for d in reversed(missing)]


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


READ_ATTEMPTS = 5


def _file_token(found: os.stat_result) -> str:
    """A file's e-tag: inode, mtime in nanoseconds and size (LocalStore's own e-tag
    has microseconds, too coarse to see Zeebe's in-place rewrites)."""
    return f"{found.st_ino:x}-{found.st_mtime_ns:x}-{found.st_size:x}"


def _file_meta(key: str, found: os.stat_result) -> ObjectMeta:
    modified = datetime.fromtimestamp(found.st_mtime_ns / 1e9, tz=UTC)
    return ObjectMeta(key, found.st_size, modified, _file_token(found))


class LocalFileIO(ObstoreIO):
    """The filesystem variant of :class:`ObstoreIO`, rooted at a directory.

    Writes are durable and atomically visible (temporary file, fsync, then an
    exclusive hard link for create-only or a rename, then fsync of the folders),
    except uploads (data files): written in place and made durable together when
    their group persists, with one ``syncfs`` of the filesystem instead of two
    fsyncs per file (the work of ``cp -r`` + ``sync -f``).
    A local filesystem has no e-tags, so compare-and-swap compares bytes under
    an ``flock`` on the object's folder, which also excludes other processes.
    Reads go to the file directly (obstore's local reader streams in small
    blocks); listings walk the folders
    (their e-tags carry nanosecond mtimes); deletion (removing emptied folders) uses
    ``LocalStore``.
    """

    def __init__(self, root: Path, *, description: str, create: bool = True) -> None:
        root = root.absolute()
        if create:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreUnavailableError(
                    f"cannot create the backup directory {root}: {error.strerror}",
                    store=description,
                ) from None
        super().__init__(LocalStore(root, automatic_cleanup=True), description=description)
        self.root = root
        self.use_syncfs = True
        """Persist uploads with one ``syncfs`` (see :class:`~backup_store.transfer.FolderSync`)."""

    async def check_location(self, key: str) -> None:
        with self._translated(key):
            await asyncio.to_thread(self._check_root)

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        loop = asyncio.get_running_loop()
        chunks = [data] if isinstance(data, bytes) else blocking(data, loop)
        token = await in_transfer_thread(lambda stop: self._write(key, chunks, stop, create_only))
        return ObjectVersion(token, None, _sha256(data))

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        await in_transfer_thread(lambda stop: self._write_in_place(key, chunks, stop))

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        def write_each(stop: threading.Event) -> None:
            for key, chunks in uploads:
                self._write_in_place(key, chunks, stop)

        await in_transfer_thread(write_each)

    async def download_each(
        self, downloads: Sequence[tuple[str, Callable[[Iterator[Chunk]], T]]]
    ) -> builtins.list[T]:
        def read_each(stop: threading.Event) -> builtins.list[T]:
            return [consume(self._chunks(key, stop)) for key, consume in downloads]

        return await in_transfer_thread(read_each)

    @asynccontextmanager
    async def upload_group(self) -> AsyncIterator[UploadGroup]:
        # Opened before the uploads: syncfs reports writeback errors since then.
        with self._translated(None):
            sync = FolderSync(self.root, use_syncfs=self.use_syncfs)
        try:
            yield UploadGroup(partial(self._persist, sync))
        finally:
            sync.close()

    async def _persist(self, sync: FolderSync, keys: Sequence[str]) -> None:
        paths = [self.root / key for key in keys]
        try:
            await in_transfer_thread(lambda _stop: sync.sync(paths))
        except OSError as error:  # named by the file that failed (none for syncfs)
            where = Path(error.filename) if isinstance(error.filename, str) else self.root
            key = (
                where.relative_to(self.root).as_posix() if where.is_relative_to(self.root) else None
            )
            raise translate_error(error, store=self.description, key=key or None) from error

    def _write_in_place(self, key: str, chunks: Iterable[Chunk], stop: threading.Event) -> None:
        """Write a data object at its key, not yet durable (:meth:`upload_group`).

        No temporary name, no fsync: data files are read only through a COMPLETED
        manifest, written after the group persisted, and a backup id is written
        once (its IN_PROGRESS manifest is create-only). An interrupted upload
        leaves nothing; a killed one a partial file no COMPLETED manifest names.
        """
        path = self.root / key
        with self._translated(key):
            fd, _ = _create_new(path, self.root, replace=True)
            try:
                try:
                    write_chunks(fd, until_stopped(chunks, stop))
                finally:
                    os.close(fd)
            except BaseException:
                path.unlink(missing_ok=True)
                raise

    def upload_memory(self, size: int) -> int:
        return min(size, CHUNK_SIZE)  # one reused buffer

    def _write(
        self, key: str, chunks: Iterable[Chunk], stop: threading.Event, create_only: bool
    ) -> str:
        """Write durably and atomically, in the calling (transfer) thread; returns the
        file's version token."""
        path = self.root / key
        with self._translated(key):
            # Short temporary name: a long object name must not overflow NAME_MAX.
            temporary = path.parent / f".{uuid.uuid4().hex[:16]}.tmp"
            fd, parents = _create_new(temporary, self.root)
            try:
                try:
                    write_chunks(fd, until_stopped(chunks, stop))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                token = _file_token(os.stat(temporary))  # rename and link keep it
                if create_only:
                    try:
                        os.link(temporary, path)  # fails if the name exists: exclusive create
                    except FileExistsError:
                        raise WriteConflict(key) from None
                else:
                    temporary.replace(path)  # atomic: readers see old or new, never half
            finally:
                temporary.unlink(missing_ok=True)
            for directory in [path.parent, *parents]:
                fsync_directory(directory)
        return token

    def _chunks(self, key: str, stop: threading.Event) -> Iterator[Chunk]:
        with self._translated(key):
            yield from until_stopped(read_whole_file(self.root / key), stop)

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        with self._translated(key):
            return await asyncio.to_thread(self._read_whole, key, max_size)

    def _read_whole(self, key: str, max_size: int | None) -> StoredObject | None:
        for _attempt in range(READ_ATTEMPTS):
            try:
                with open(self.root / key, "rb") as file:
                    found = os.fstat(file.fileno())
                    if max_size is not None and found.st_size > max_size:
                        raise ObjectTooLargeError(key, found.st_size, max_size)
                    before = _file_token(found)
                    # At most one byte past the size seen (a file growing meanwhile
                    # changes its token: read again), never a buffer of the bound.
                    data = file.read(found.st_size + 1)
                    after = _file_token(os.fstat(file.fileno()))
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                self._check_root()
                return None
            if before == after:  # not rewritten in place while read
                return StoredObject(data, ObjectVersion(after, None, _sha256(data)))
        raise StoreUnavailableError(f"the object kept changing while it was read ({key})")

    async def head(self, key: str) -> ObjectMeta | None:
        with self._translated(key):
            try:
                found = await asyncio.to_thread(os.stat, self.root / key)
            except (FileNotFoundError, NotADirectoryError):
                await asyncio.to_thread(self._check_root)
                return None
            if not stat.S_ISREG(found.st_mode):
                return None
            return _file_meta(key, found)

    async def list(
        self, prefix: str, *, offset: str | None = None
    ) -> AsyncIterator[builtins.list[ObjectMeta]]:
        # Walked here rather than by LocalStore: listings carry nanosecond tokens.
        folder = prefix.rstrip("/")
        with self._translated(prefix):
            pages = await asyncio.to_thread(self._walk, folder, offset)
        for page in pages:
            yield page

    def _check_root(self) -> None:
        """A missing object is only missing while the store's folder is there."""
        if not self.root.is_dir():
            problem = "is not a directory" if self.root.exists() else "does not exist"
            raise StoreUnavailableError(f"the backup directory {self.root} {problem}")

    def _walk(self, folder: str, offset: str | None) -> builtins.list[builtins.list[ObjectMeta]]:
        self._check_root()
        found: builtins.list[ObjectMeta] = []
        pending = [folder]
        while pending:
            current = pending.pop()
            try:
                entries = list(os.scandir(self.root / current if current else self.root))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                key = f"{current}/{entry.name}" if current else entry.name
                try:
                    if entry.is_dir():
                        pending.append(key)
                    elif entry.is_file() and (offset is None or key > offset):
                        found.append(_file_meta(key, entry.stat()))
                except FileNotFoundError:
                    continue  # removed while listed
        return [found[i : i + LIST_PAGE] for i in range(0, len(found), LIST_PAGE)]

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        with self._translated(key):
            async with aiofiles.open(self.root / key, "rb") as file:
                while chunk := await file.read(CHUNK_SIZE):
                    yield chunk

    @asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        async with super()._exclusive(key):
            folder = (self.root / key).parent
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                raise WriteConflict(key) from None  # the object's folder is gone
            try:
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class Request:
    """One request passing through a :class:`HookedIO`."""

    operation: str
    """``put``, ``replace``, ``get``, ``get_range``, ``stream``, ``head``, ``list``,
    ``list_with_delimiter``, ``delete`` or ``persist`` (of an upload group)."""
    key: str
    """The key (or prefix, or first key of a delete or persist)."""


class HookedIO(ObjectIO):
    """Forwards every request to ``inner`` after awaiting ``hook(request)``.

    The hook may count requests, sleep to add latency (no CPU cost), wait on
    an event to hold one request while others go on, or raise to fail it.
    """

    def __init__(self, inner: ObjectIO, hook: Callable[[Request], Awaitable[None]]) -> None:
        self.inner = inner
        self.hook = hook
        self.description = inner.description
        self.capabilities = inner.capabilities
        self.part_size = inner.part_size
        self.part_concurrency = inner.part_concurrency

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        await self.hook(Request("put", key))
        return await self.inner.put(key, data, create_only=create_only)

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        await self.hook(Request("put", key))
        await self.inner.upload(key, chunks, one_request=one_request)

    def upload_memory(self, size: int) -> int:
        return self.inner.upload_memory(size)

    @asynccontextmanager
    async def upload_group(self) -> AsyncIterator[UploadGroup]:
        async with self.inner.upload_group() as group:

            async def persist(keys: Sequence[str]) -> None:
                await self.hook(Request("persist", keys[0] if keys else ""))
                await group.persist(keys)

            yield UploadGroup(persist)

    async def download(self, key: str, consume: Callable[[Iterator[Chunk]], T]) -> T:
        await self.hook(Request("stream", key))
        return await self.inner.download(key, consume)

    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        await self.hook(Request("replace", key))
        return await self.inner.replace(key, data, expected)

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        await self.hook(Request("get", key))
        return await self.inner.get(key, max_size=max_size)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        await self.hook(Request("stream", key))
        async for chunk in self.inner.stream(key):
            yield chunk

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        await self.hook(Request("get_range", key))
        return await self.inner.get_range(key, start, end)

    async def head(self, key: str) -> ObjectMeta | None:
        await self.hook(Request("head", key))
        return await self.inner.head(key)

    async def list(
        self, prefix: str, *, offset: str | None = None
    ) -> AsyncIterator[list[ObjectMeta]]:
        await self.hook(Request("list", prefix))
        async for page in self.inner.list(prefix, offset=offset):
            yield page

    async def list_with_delimiter(self, prefix: str) -> Listing:
        await self.hook(Request("list_with_delimiter", prefix))
        return await self.inner.list_with_delimiter(prefix)

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self.hook(Request("delete", keys[0]))
        await self.inner.delete(keys)

    async def prepare_for_writes(self) -> None:
        await self.inner.prepare_for_writes()

    async def check_location(self, key: str) -> None:
        await self.hook(Request("get", key))
        await self.inner.check_location(key)
