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
from typing import IO, cast

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
    """Pass chunks through, adding them to ``digest``.

    Large chunks are hashed in a worker thread (hashlib releases the GIL), so
    several files hash in parallel instead of queuing on the event loop.
    """
    async for chunk in chunks:
        if len(chunk) >= 64 * 1024:
            await asyncio.to_thread(digest.update, chunk)
        else:
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
    """Decompress a zstd stream; a damaged or truncated frame is an integrity error.

    A small compressed chunk may expand enormously, so output is pulled in bounded
    pieces from zstd's stream reader, which runs in a worker thread and pulls its
    input from ``chunks`` on the event loop as it needs it. The reader does not
    notice a stream cut at a block boundary, so :class:`ZstdFrameTracker` follows
    the frame structure of the input and says whether the last frame was whole.
    """
    tracker = ZstdFrameTracker()
    source = _ThreadReader(tap_frames(chunks, tracker), asyncio.get_running_loop())
    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(IO[bytes], source), read_size=CHUNK_SIZE, read_across_frames=True
    )
    try:
        while True:
            out = await asyncio.to_thread(reader.read, CHUNK_SIZE)
            if not out:
                break
            yield out
    except zstandard.ZstdError as error:
        raise IntegrityError(f"stored zstd data is damaged: {error}", key=key) from None
    except IntegrityError as error:
        raise error.with_context(key=key) from None
    if not tracker.complete:
        raise IntegrityError(f"stored zstd data is truncated after {tracker.offset} bytes", key=key)


async def tap_frames(
    chunks: AsyncIterator[bytes], tracker: ZstdFrameTracker
) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        tracker.feed(chunk)
        yield chunk


class ZstdFrameTracker:
    """Follows zstd frame headers and block headers (RFC 8878) without decoding.

    ``complete`` is true when the input seen so far ends exactly after a whole
    frame (last block and optional checksum included).
    """

    def __init__(self) -> None:
        self.offset = 0
        self._skip = 0  # bytes of content to pass over before the next header
        self._pending = b""  # an incomplete header being collected
        self._need = 4  # bytes the current header needs
        self._state = "magic"
        self._checksum = False
        self.frames = 0

    @property
    def complete(self) -> bool:
        return self.frames > 0 and self._state == "magic" and not self._pending and not self._skip

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                self.offset += step
                continue
            take = min(self._need - len(self._pending), len(view))
            self._pending += bytes(view[:take])
            view = view[take:]
            self.offset += take
            if len(self._pending) == self._need:
                header, self._pending = self._pending, b""
                self._advance(header)

    def _advance(self, header: bytes) -> None:
        if self._state == "magic":
            magic = int.from_bytes(header, "little")
            if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: 4-byte size follows
                self._state, self._need = "skippable", 4
            elif magic == 0xFD2FB528:
                self._state, self._need = "descriptor", 1
            else:
                raise IntegrityError(f"not a zstd frame at byte {self.offset - 4}")
        elif self._state == "skippable":
            self._skip = int.from_bytes(header, "little")
            self._state, self._need = "magic", 4
        elif self._state == "descriptor":
            flags = header[0]
            single_segment = bool(flags & 0x20)
            self._checksum = bool(flags & 0x04)
            content_size = (0, 2, 4, 8)[flags >> 6] or (1 if single_segment else 0)
            rest = (0 if single_segment else 1) + (0, 1, 2, 4)[flags & 0x03] + content_size
            self._state, self._need = "block", 3
            self._skip = rest
        elif self._state == "block":
            value = int.from_bytes(header, "little")
            last, block_type, size = value & 1, (value >> 1) & 3, value >> 3
            self._skip = 1 if block_type == 1 else size
            if last:
                self.frames += 1
                if self._checksum:
                    self._state, self._need = "checksum", 4
                else:
                    self._state, self._need = "magic", 4
        elif self._state == "checksum":
            self._state, self._need = "magic", 4


class _ThreadReader:
    """A blocking ``read()`` over an async iterator, for use from a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop
        self._buffer = b""
        self._exhausted = False

    def read(self, size: int = -1) -> bytes:
        if not self._buffer and not self._exhausted:
            future = asyncio.run_coroutine_threadsafe(anext(self._chunks, b""), self._loop)
            self._buffer = future.result()
            self._exhausted = not self._buffer
        size = len(self._buffer) if size < 0 else size
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


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
