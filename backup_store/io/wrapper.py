"""Wrappers of an :class:`~backup_store.io.base.ObjectIO`: a layer that sees every request.

:class:`WrapperIO` forwards every method, batches and upload groups included, to the
object I/O it wraps; a wrapper (a hook, a throttle, a logging layer) overrides what it
adds to. A store takes its wrapped I/O whole
(:meth:`~backup_store.engine.ObjectBackupStore.wrap_io`): its marker and catalog
requests pass through the wrapper too.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from backup_store.io.base import (
    READ_WHOLE_LIMIT,
    CopyReach,
    Listing,
    ObjectIO,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    UploadGroup,
)
from backup_store.transfer.files import Chunk

T = TypeVar("T")


class WrapperIO(ObjectIO):
    """An :class:`ObjectIO` that forwards every request to ``inner``."""

    def __init__(self, inner: ObjectIO) -> None:
        self.inner = inner
        self.description = inner.description
        self.capabilities = inner.capabilities
        self.part_size = inner.part_size
        self.part_concurrency = inner.part_concurrency
        self.customer_key = inner.customer_key
        self.copy_wait_seconds = inner.copy_wait_seconds

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        return await self.inner.put(key, data, create_only=create_only)

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        await self.inner.upload(key, chunks, one_request=one_request)

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        await self.inner.upload_each(uploads)

    @asynccontextmanager
    async def upload_group(self) -> AsyncIterator[UploadGroup]:
        async with self.inner.upload_group() as group:
            yield group

    def upload_memory(self, size: int) -> int:
        return self.inner.upload_memory(size)

    # ``copy`` is not forwarded: the base's runs this wrapper's ``start_copy`` and
    # ``copy_state``, so that every request of a copy passes through the wrapper.
    def reach(self) -> CopyReach | None:
        return self.inner.reach()

    async def start_copy(
        self, source: str, key: str, *, source_location: str | None = None
    ) -> bool:
        return await self.inner.start_copy(source, key, source_location=source_location)

    async def copy_state(self, key: str) -> str | None:
        return await self.inner.copy_state(key)

    async def download(
        self, key: str, consume: Callable[[Iterator[Chunk]], T], *, size: int | None = None
    ) -> T:
        return await self.inner.download(key, consume, size=size)

    def download_memory(self, size: int) -> int:
        return self.inner.download_memory(size)

    async def download_each(
        self, downloads: Sequence[tuple[str, Callable[[Iterator[Chunk]], T]]]
    ) -> builtins.list[T]:
        return await self.inner.download_each(downloads)

    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        return await self.inner.replace(key, data, expected)

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        return await self.inner.get(key, max_size=max_size)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in self.inner.stream(key):
            yield chunk

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        return await self.inner.get_range(key, start, end)

    async def head(self, key: str) -> ObjectMeta | None:
        return await self.inner.head(key)

    async def list(
        self, prefix: str, *, offset: str | None = None
    ) -> AsyncIterator[builtins.list[ObjectMeta]]:
        async for page in self.inner.list(prefix, offset=offset):
            yield page

    async def list_with_delimiter(self, prefix: str) -> Listing:
        return await self.inner.list_with_delimiter(prefix)

    async def delete(self, keys: Sequence[str]) -> None:
        await self.inner.delete(keys)

    async def prepare_for_writes(self) -> None:
        await self.inner.prepare_for_writes()

    async def check_location(self, key: str) -> None:
        await self.inner.check_location(key)


WRITES = frozenset({"put", "upload", "copy", "replace", "delete"})


@dataclass(frozen=True)
class Request:
    """One request passing through a :class:`HookedIO`."""

    operation: str
    """``put`` (a small object written whole), ``upload`` (a data file, also one of
    a batch), ``copy`` (a data file made from a stored one, at its new key),
    ``copy_state`` (whether that copy is done, asked until it is),
    ``replace``, ``get`` (also a location check), ``get_range``, ``stream``,
    ``download`` (a data file read into a consumer, also one of a batch), ``head``,
    ``list``, ``list_with_delimiter``, ``delete`` or ``persist`` (of an upload group)."""
    key: str
    """The key (or prefix, or first key of a delete or persist)."""

    @property
    def writes(self) -> bool:
        """Whether the request changes stored objects."""
        return self.operation in WRITES


class HookedIO(WrapperIO):
    """Forwards every request to ``inner`` after awaiting ``hook(request)``.

    The hook may count requests, sleep to add latency (no CPU cost), wait on
    an event to hold one request while others go on, or raise to fail it. A batch
    (``upload_each``, ``download_each``) is one request per object, each hooked
    before the batch is forwarded whole (the inner I/O keeps its batching).
    """

    def __init__(self, inner: ObjectIO, hook: Callable[[Request], Awaitable[None]]) -> None:
        super().__init__(inner)
        self.hook = hook

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        await self.hook(Request("put", key))
        return await super().put(key, data, create_only=create_only)

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        await self.hook(Request("upload", key))
        await super().upload(key, chunks, one_request=one_request)

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        for key, _ in uploads:
            await self.hook(Request("upload", key))
        await super().upload_each(uploads)

    async def start_copy(
        self, source: str, key: str, *, source_location: str | None = None
    ) -> bool:
        await self.hook(Request("copy", key))
        return await super().start_copy(source, key, source_location=source_location)

    async def copy_state(self, key: str) -> str | None:
        await self.hook(Request("copy_state", key))
        return await super().copy_state(key)

    @asynccontextmanager
    async def upload_group(self) -> AsyncIterator[UploadGroup]:
        async with self.inner.upload_group() as group:

            async def persist(keys: Sequence[str]) -> None:
                await self.hook(Request("persist", keys[0] if keys else ""))
                await group.persist(keys)

            yield UploadGroup(persist)

    async def download(
        self, key: str, consume: Callable[[Iterator[Chunk]], T], *, size: int | None = None
    ) -> T:
        await self.hook(Request("download", key))
        return await super().download(key, consume, size=size)

    async def download_each(
        self, downloads: Sequence[tuple[str, Callable[[Iterator[Chunk]], T]]]
    ) -> builtins.list[T]:
        for key, _ in downloads:
            await self.hook(Request("download", key))
        return await super().download_each(downloads)

    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        await self.hook(Request("replace", key))
        return await super().replace(key, data, expected)

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        await self.hook(Request("get", key))
        return await super().get(key, max_size=max_size)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        await self.hook(Request("stream", key))
        async for chunk in super().stream(key):
            yield chunk

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        await self.hook(Request("get_range", key))
        return await super().get_range(key, start, end)

    async def head(self, key: str) -> ObjectMeta | None:
        await self.hook(Request("head", key))
        return await super().head(key)

    async def list(
        self, prefix: str, *, offset: str | None = None
    ) -> AsyncIterator[builtins.list[ObjectMeta]]:
        await self.hook(Request("list", prefix))
        async for page in super().list(prefix, offset=offset):
            yield page

    async def list_with_delimiter(self, prefix: str) -> Listing:
        await self.hook(Request("list_with_delimiter", prefix))
        return await super().list_with_delimiter(prefix)

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self.hook(Request("delete", keys[0]))
        await super().delete(keys)

    async def check_location(self, key: str) -> None:
        await self.hook(Request("get", key))
        await super().check_location(key)
