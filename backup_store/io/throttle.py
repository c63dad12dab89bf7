""":class:`ThrottledIO`: an :class:`~backup_store.io.base.ObjectIO` whose bytes sent and
received are drawn from a :class:`~backup_store.transfer.bandwidth.TokenBucket`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from backup_store.io.base import READ_WHOLE_LIMIT, ObjectIO, ObjectVersion, StoredObject
from backup_store.io.wrapper import WrapperIO
from backup_store.transfer.bandwidth import TokenBucket
from backup_store.transfer.files import Chunk

T = TypeVar("T")


class ThrottledIO(WrapperIO):
    """Forwards every request to ``inner``, each chunk of a body sent or received
    charged to ``bucket`` (shared by every store of the process) before it moves on.

    Uploads and downloads are charged per chunk in their transfer thread, small
    bodies (manifests, records, ranges) on the event loop. Copies made inside the
    store, listings, heads and deletes move no body and are not charged.
    """

    def __init__(self, inner: ObjectIO, bucket: TokenBucket) -> None:
        super().__init__(inner)
        self.bucket = bucket

    def _paced(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            self.bucket.take(memoryview(chunk).nbytes)
            yield chunk

    async def _paced_async(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            await self.bucket.take_async(len(chunk))
            yield chunk

    def _consumer(self, consume: Callable[[Iterator[Chunk]], T]) -> Callable[[Iterator[Chunk]], T]:
        return lambda chunks: consume(self._paced(chunks))

    async def put(
        self, key: str, data: bytes | AsyncIterator[bytes], *, create_only: bool = False
    ) -> ObjectVersion:
        if isinstance(data, bytes):
            await self.bucket.take_async(len(data))
        else:
            data = self._paced_async(data)
        return await super().put(key, data, create_only=create_only)

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        await super().upload(key, self._paced(chunks), one_request=one_request)

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        await super().upload_each([(key, self._paced(chunks)) for key, chunks in uploads])

    async def download(
        self, key: str, consume: Callable[[Iterator[Chunk]], T], *, size: int | None = None
    ) -> T:
        return await super().download(key, self._consumer(consume), size=size)

    async def download_each(
        self, downloads: Sequence[tuple[str, Callable[[Iterator[Chunk]], T]]]
    ) -> builtins.list[T]:
        return await super().download_each(
            [(key, self._consumer(consume)) for key, consume in downloads]
        )

    async def replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        await self.bucket.take_async(len(data))
        return await super().replace(key, data, expected)

    async def get(
        self, key: str, *, max_size: int | None = READ_WHOLE_LIMIT
    ) -> StoredObject | None:
        found = await super().get(key, max_size=max_size)
        if found is not None:
            await self.bucket.take_async(len(found.data))
        return found

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in self._paced_async(super().stream(key)):
            yield chunk

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        data = await super().get_range(key, start, end)
        await self.bucket.take_async(len(data))
        return data
