"""zstd on the byte path: compress a file only when it gets smaller, decompress
streams, and follow frame boundaries without decoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TypeVar, cast

import zstandard

from backup_store.errors import IntegrityError
from backup_store.transfer.files import CHUNK_SIZE, Chunk
from backup_store.transfer.threads import blocking, iterate_in_thread

T = TypeVar("T")

COMPRESSION_THRESHOLD = 8 * 1024 * 1024
"""Files strictly larger than this are compressed when compression is on."""


@dataclass
class StoredForm:
    """What :func:`compress_if_smaller` stored: compressed or plain, and how many bytes.

    The first chunk is compressed as a probe: data that zstd does not shrink by
    at least :data:`MIN_SAVING` (already compressed or random) is stored plain
    (``store-format.md`` §4 allows it), costing one chunk of compression work
    instead of the whole file.
    """

    compressed: bool = True
    size: int = 0


MIN_SAVING = 0.02
"""Fraction of the probe chunk zstd must save for a file to be stored compressed."""


def compress_if_smaller(chunks: Iterable[Chunk], form: StoredForm) -> Iterator[Chunk]:
    """One zstd frame of ``chunks``, or the chunks unchanged when the first one
    does not shrink (recorded in ``form``). Blocking: zstd releases the GIL."""
    for out in _compress_if_smaller(chunks, form):
        form.size += memoryview(out).nbytes
        yield out


def _compress_if_smaller(chunks: Iterable[Chunk], form: StoredForm) -> Iterator[Chunk]:
    compressor = zstandard.ZstdCompressor().compressobj()
    pieces = iter(chunks)
    probe = next(pieces, None)
    if probe is not None:
        view = memoryview(probe)
        out = compressor.compress(view) + compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        if len(out) > view.nbytes * (1 - MIN_SAVING):
            form.compressed = False
            yield probe
            yield from pieces
            return
        yield out
    for chunk in pieces:
        if out := compressor.compress(memoryview(chunk)):
            yield out
    yield compressor.flush()


def decompress(chunks: Iterable[Chunk], *, key: str) -> Iterator[bytes]:
    """Decompress a zstd stream; a damaged or truncated frame is an integrity error.

    Blocking. A small compressed chunk may expand enormously, so output is pulled
    in pieces of at most :data:`CHUNK_SIZE` from zstd's stream reader. The reader
    does not notice a stream cut at a block boundary, so :class:`ZstdFrameTracker`
    follows the frame structure of the input and says whether the last frame was whole.
    """
    tracker = ZstdFrameTracker()
    source = _IteratorReader(tracker.tapped(chunks))
    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(IO[bytes], source), read_size=CHUNK_SIZE, read_across_frames=True
    )
    try:
        while out := reader.read(CHUNK_SIZE):
            yield out
    except zstandard.ZstdError as error:
        raise IntegrityError(f"stored zstd data is damaged: {error}", key=key) from None
    except IntegrityError as error:
        raise error.with_context(key=key) from None
    if not tracker.complete:
        raise IntegrityError(f"stored zstd data is truncated after {tracker.offset} bytes", key=key)


async def decompress_zstd(chunks: AsyncIterator[bytes], *, key: str) -> AsyncIterator[bytes]:
    """:func:`decompress` over an async stream; zstd runs in a worker thread."""
    async for out in iterate_in_thread(
        decompress(blocking(chunks, asyncio.get_running_loop()), key=key)
    ):
        yield out


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

    def tapped(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """Pass chunks through, following them."""
        for chunk in chunks:
            self.feed(chunk)
            yield chunk

    def feed(self, chunk: Chunk) -> None:
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


class _IteratorReader:
    """A blocking ``read()`` over an iterator of chunks (zstd's stream reader input)."""

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._buffer = bytes(next(self._chunks, b""))
        size = len(self._buffer) if size < 0 else size
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out
