"""Streaming byte pipelines: read local files, hash, (de)compress, write local files.

Every pipeline is an async iterator of chunks of at most :data:`CHUNK_SIZE` bytes,
so memory stays flat whatever the file size. CPU-heavy steps (zstd, SHA-256 of
large chunks) run in worker threads to keep the event loop responsive.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiofiles
import zstandard

from backup_store.errors import IntegrityError, SourceFileNotFoundError
from backup_store.model import SourceFile

CHUNK_SIZE = 1024 * 1024
COMPRESSION_THRESHOLD = 8 * 1024 * 1024
"""Files strictly larger than this are compressed when compression is on."""


@dataclass
class Digest:
    """Size and SHA-256 of the bytes that went through a pipeline stage."""

    size: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def source_size(source: SourceFile) -> int:
    """How many bytes of ``source`` a backup takes; checks it is a regular file."""
    try:
        stat = source.path.stat()
    except FileNotFoundError:
        raise SourceFileNotFoundError(
            f"source file not found: {source.path}", key=str(source.path)
        ) from None
    except OSError as error:
        raise SourceFileNotFoundError(
            f"source file unreadable: {source.path}: {error.strerror}", key=str(source.path)
        ) from None
    if not source.path.is_file():
        raise SourceFileNotFoundError(
            f"source is not a regular file: {source.path}", key=str(source.path)
        )
    if source.length is not None:
        if stat.st_size < source.length:
            raise SourceFileNotFoundError(
                f"source file {source.path} is shorter ({stat.st_size} bytes) than the "
                f"{source.length} bytes to back up",
                key=str(source.path),
            )
        return source.length
    return stat.st_size


async def read_local(source: SourceFile, size: int) -> AsyncIterator[bytes]:
    """The first ``size`` bytes of a local file, chunk by chunk."""
    try:
        async with aiofiles.open(source.path, "rb") as file:
            remaining = size
            while remaining > 0:
                chunk = await file.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise SourceFileNotFoundError(
                        f"source file {source.path} shrank while it was read "
                        f"({size - remaining} of {size} bytes)",
                        key=str(source.path),
                    )
                remaining -= len(chunk)
                yield chunk
    except FileNotFoundError:
        raise SourceFileNotFoundError(
            f"source file not found: {source.path}", key=str(source.path)
        ) from None
    except IsADirectoryError:
        raise SourceFileNotFoundError(
            f"source is not a regular file: {source.path}", key=str(source.path)
        ) from None


async def tap(chunks: AsyncIterator[bytes], digest: Digest) -> AsyncIterator[bytes]:
    """Pass chunks through, adding them to ``digest``."""
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk


async def compress_zstd(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Compress a stream into one zstd frame, streaming."""
    compressor = zstandard.ZstdCompressor().compressobj()
    async for chunk in chunks:
        out = await asyncio.to_thread(compressor.compress, chunk)
        if out:
            yield out
    yield compressor.flush()


async def decompress_zstd(chunks: AsyncIterator[bytes], *, key: str) -> AsyncIterator[bytes]:
    """Decompress a zstd stream; a damaged or truncated frame is an integrity error."""
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    try:
        async for chunk in chunks:
            out = await asyncio.to_thread(decompressor.decompress, chunk)
            if out:
                yield out
    except zstandard.ZstdError as error:
        raise IntegrityError(f"stored zstd data is damaged: {error}", key=key) from None
    if not decompressor.eof:
        raise IntegrityError("stored zstd data is truncated", key=key)


async def rechunk(chunks: AsyncIterator[bytes], size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Split oversized chunks so no consumer sees more than ``size`` bytes at once."""
    async for chunk in chunks:
        for start in range(0, len(chunk), size):
            yield bytes(chunk[start : start + size])


async def write_local(path: Path, chunks: AsyncIterator[bytes]) -> None:
    """Write a stream to ``path`` (created exclusively) and fsync it."""
    async with aiofiles.open(path, "xb") as file:
        async for chunk in chunks:
            await file.write(chunk)
        await file.flush()
        await asyncio.to_thread(os.fsync, file.fileno())


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
