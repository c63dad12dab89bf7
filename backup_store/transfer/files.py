"""Local files as streams of chunks: read (page-aligned buffers), hash, write (direct
writes past the first MiB), with memory flat whatever the file size.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import mmap
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from backup_store.errors import SourceFileNotFoundError
from backup_store.model import SourceFile

T = TypeVar("T")


Chunk = bytes | bytearray | memoryview
"""A piece of a stream (what obstore, hashlib, zstd and ``os.write`` all accept)."""

CHUNK_SIZE = 1024 * 1024


@dataclass
class Digest:
    """Size and SHA-256 of the bytes that went through a pipeline stage."""

    size: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def update(self, chunk: Chunk) -> None:
        self.size += memoryview(chunk).nbytes
        self._hash.update(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def source_size(source: SourceFile) -> int:
    """How many bytes of ``source`` a backup takes; checks it is a regular file."""
    try:
        found = source.path.stat()
    except FileNotFoundError:
        raise SourceFileNotFoundError(
            f"source file not found: {source.path}", key=str(source.path)
        ) from None
    except OSError as error:
        raise SourceFileNotFoundError(
            f"source file unreadable: {source.path}: {error.strerror}", key=str(source.path)
        ) from None
    if not stat.S_ISREG(found.st_mode):
        raise SourceFileNotFoundError(
            f"source is not a regular file: {source.path}", key=str(source.path)
        )
    if source.length is not None:
        if found.st_size < source.length:
            raise SourceFileNotFoundError(
                f"source file {source.path} is shorter ({found.st_size} bytes) than the "
                f"{source.length} bytes to back up",
                key=str(source.path),
            )
        return source.length
    return found.st_size


def page_aligned_buffer(size: int) -> memoryview:
    """A zeroed, writable buffer at a page boundary (anonymous memory): chunks read
    into it can be written with ``O_DIRECT`` (:func:`write_chunks`). Pages are
    allocated only when touched."""
    return memoryview(mmap.mmap(-1, max(size, 1)))


def read_buffer(file_size: int) -> memoryview:
    """The reused buffer a file of ``file_size`` bytes is read through: one chunk
    at most, no bigger than the file; page-aligned where the file is big enough for
    :func:`write_chunks` to send some of it with ``O_DIRECT`` (a mapping per small
    file would cost more than it saves)."""
    length = min(CHUNK_SIZE, file_size)
    if file_size > DIRECT_WRITES_AFTER:
        return page_aligned_buffer(length)
    return memoryview(bytearray(length))


def read_file(path: Path, size: int) -> Iterator[memoryview]:
    """The first ``size`` bytes of a local file, read into one reused buffer.

    Blocking (run it in a transfer thread). Each chunk is a view of the same
    buffer (:func:`read_buffer`), valid only until the next one is requested.
    """
    buffer = read_buffer(size)
    try:
        with path.open("rb", buffering=0) as file:
            remaining = size
            while remaining > 0:
                read = file.readinto(buffer[: min(len(buffer), remaining)])
                if not read:
                    raise SourceFileNotFoundError(
                        f"source file {path} shrank while it was read "
                        f"({size - remaining} of {size} bytes)",
                        key=str(path),
                    )
                remaining -= read
                yield buffer[:read]
    except FileNotFoundError:
        raise SourceFileNotFoundError(f"source file not found: {path}", key=str(path)) from None
    except IsADirectoryError:
        raise SourceFileNotFoundError(
            f"source is not a regular file: {path}", key=str(path)
        ) from None


def read_whole_file(path: Path) -> Iterator[memoryview]:
    """Every byte of a local file, as :func:`read_file` (one reused buffer)."""
    with path.open("rb", buffering=0) as file:
        # At least a page: a file that grew since it was measured is still read whole.
        buffer = read_buffer(max(os.fstat(file.fileno()).st_size, 4096))
        while read := file.readinto(buffer):
            yield buffer[:read]


def hashed(chunks: Iterable[Chunk], digest: Digest) -> Iterator[Chunk]:
    """Pass chunks through, adding them to ``digest`` (hashlib releases the GIL
    on large buffers, so transfer threads hash in parallel)."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def write_file(path: Path, chunks: Iterable[Chunk], *, sync: bool = True) -> None:
    """Write chunks to ``path`` (created exclusively); fsync it unless ``sync`` is
    false (the caller then makes it durable with others: :class:`FolderSync`). Blocking."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_chunks(fd, chunks)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_chunks(fd: int, chunks: Iterable[Chunk]) -> None:
    """Write every chunk to an open file (at its start). Blocking.

    Past the first :data:`DIRECT_WRITES_AFTER` bytes (a big file), the bytes go
    with ``O_DIRECT`` in whole pages from page-aligned memory: chunks that are
    already so (our own read buffers, :func:`read_buffer`) as they are, others
    (obstore's, zstd's) gathered into one such buffer. They go straight to the
    device, neither copied into the page cache nor left dirty for the later
    ``syncfs``/fsync to write back (which still makes them durable: it commits
    the metadata and flushes the device's cache). Small files, a file's unaligned
    tail and filesystems that refuse ``O_DIRECT`` go through the page cache.
    """
    writer = _FileWriter(fd)
    for chunk in chunks:
        writer.write(memoryview(chunk).cast("B"))
    writer.flush()


DIRECT_ALIGNMENT = 4096
"""Buffer address, length and file offset of an ``O_DIRECT`` write are multiples of
this (the logical block size of any common device divides it)."""
DIRECT_WRITES_AFTER = CHUNK_SIZE
"""Bytes of a file written through the page cache before ``O_DIRECT`` is tried: a
small file is one synchronous device write too many."""
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def _page_aligned(view: memoryview) -> bool:
    if view.readonly or not view.contiguous or view.nbytes % DIRECT_ALIGNMENT:
        return False
    address = ctypes.addressof(ctypes.c_char.from_buffer(view))
    return address % DIRECT_ALIGNMENT == 0


class _FileWriter:
    """Writes one file sequentially, with ``O_DIRECT`` where it can (:func:`write_chunks`)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0  # the file offset
        self.direct = False  # O_DIRECT is on
        self.refused = False  # the filesystem refused it: buffered from now on
        self.staging: memoryview | None = None
        self.staged = 0

    def write(self, view: memoryview) -> None:
        while view:
            if self.refused:
                count = len(view)  # all of it, through the cache
            elif self.written < DIRECT_WRITES_AFTER:  # the first bytes, through the cache
                count = DIRECT_WRITES_AFTER - self.written
            elif self.written % DIRECT_ALIGNMENT:  # up to the next page, through the cache
                count = DIRECT_ALIGNMENT - self.written % DIRECT_ALIGNMENT
            elif not self.staged and _page_aligned(view):
                count = len(view)  # whole pages of page-aligned memory: as they are
            else:
                view = view[self._stage(view) :]
                continue
            view = view[self._put(view[:count]) :]

    def _stage(self, view: memoryview) -> int:
        """Gather bytes of ``view`` into the page-aligned buffer, written once full;
        how many were taken."""
        if self.staging is None:
            self.staging = page_aligned_buffer(CHUNK_SIZE)
        take = min(len(view), len(self.staging) - self.staged)
        self.staging[self.staged : self.staged + take] = view[:take]
        self.staged += take
        if self.staged == len(self.staging):
            self.flush()
        return take

    def flush(self) -> None:
        """Write what is gathered (at the end, a tail that may not be whole pages)."""
        if self.staging is not None and self.staged:
            rest = self.staging[: self.staged]
            self.staged = 0
            while rest:
                rest = rest[self._put(rest) :]

    def _put(self, view: memoryview) -> int:
        """Write (some of) ``view``, with ``O_DIRECT`` where it qualifies; how many
        bytes the system took."""
        wanted = (
            not self.refused
            and self.written >= DIRECT_WRITES_AFTER
            and self.written % DIRECT_ALIGNMENT == 0
            and _page_aligned(view)
        )
        if wanted != self.direct:
            self.direct = _set_direct(self.fd, wanted)
            self.refused = wanted and not self.direct
        try:
            count = os.write(self.fd, view)
        except OSError as error:
            if not (self.direct and error.errno == errno.EINVAL):
                raise
            self.direct, self.refused = _set_direct(self.fd, False), True
            return 0  # written again, through the cache
        self.written += count
        return count


def _set_direct(fd: int, direct: bool) -> bool:
    """Switch ``O_DIRECT`` on or off for an open file; whether it is on now (a
    filesystem that refuses it leaves it off)."""
    if not _O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | _O_DIRECT) if direct else (flags & ~_O_DIRECT))
    except OSError:
        if not direct:
            raise
        return False
    return direct
