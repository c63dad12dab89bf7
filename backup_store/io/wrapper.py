"""Wrappers of an :class:`~backup_store.io.base.ObjectIO`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from backup_store.io.base import (
    READ_WHOLE_LIMIT,
    Listing,
    ObjectIO,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    UploadGroup,
)
from backup_store.transfer import (
    Chunk,
)

T = TypeVar("T")


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
