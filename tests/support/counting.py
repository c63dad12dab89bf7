"""Counting at the seam: every byte an upload takes from its source, every copy request."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence

from backup_store.engine import ObjectBackupStore
from backup_store.io import ObjectIO
from backup_store.io.wrapper import WrapperIO
from backup_store.transfer.files import Chunk


class CountingIO(WrapperIO):
    """Counts the bytes every upload sends and records every copy request."""

    def __init__(self, inner: ObjectIO) -> None:
        super().__init__(inner)
        self.sent = 0
        self.copies: builtins.list[tuple[str, str]] = []

    def _counted(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            self.sent += memoryview(chunk).nbytes
            yield chunk

    async def upload(self, key: str, chunks: Iterable[Chunk], *, one_request: bool = False) -> None:
        await super().upload(key, self._counted(chunks), one_request=one_request)

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        await super().upload_each([(key, self._counted(chunks)) for key, chunks in uploads])

    async def copy(self, source: str, key: str, *, source_location: str | None = None) -> None:
        self.copies.append((source, key))
        await super().copy(source, key, source_location=source_location)


def counting(store: ObjectBackupStore) -> CountingIO:
    counter = CountingIO(store.io)
    store.io = counter
    return counter
