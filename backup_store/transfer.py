"""Streaming byte pipelines: read local files, hash, (de)compress, write local files.

A file moves through one transfer thread (:func:`in_transfer_thread`) that reads,
hashes, (de)compresses and writes it as blocking iterators of chunks of at most
:data:`CHUNK_SIZE` bytes: no thread hop per chunk, memory flat whatever the file
size. hashlib and zstd release the GIL on large buffers, so files progress in
parallel while the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import hashlib
import mmap
import os
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import zstandard

from backup_store.errors import IntegrityError, SourceFileNotFoundError, StoreUnavailableError
from backup_store.model import SourceFile

T = TypeVar("T")

Chunk = bytes | bytearray | memoryview
"""A piece of a stream (what obstore, hashlib, zstd and ``os.write`` all accept)."""

CHUNK_SIZE = 1024 * 1024
COMPRESSION_THRESHOLD = 8 * 1024 * 1024
"""Files strictly larger than this are compressed when compression is on."""


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


async def iterate_in_thread(chunks: Iterator[Chunk]) -> AsyncIterator[bytes]:
    """A blocking iterator as an async one: one worker-thread hop per chunk, each
    chunk copied (the iterator may reuse its buffer). For tools, not the byte path."""

    def next_copy() -> bytes | None:
        chunk = next(chunks, None)
        return None if chunk is None else bytes(chunk)

    while (chunk := await asyncio.to_thread(next_copy)) is not None:
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


def blocking(chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> Iterator[bytes]:
    """An async stream as a blocking iterator, for a transfer thread: each chunk is
    fetched on ``loop`` (which must not be the calling thread's)."""
    while chunk := asyncio.run_coroutine_threadsafe(anext(chunks, b""), loop).result():
        yield chunk


class TransferCancelled(Exception):
    """Raised inside a transfer thread whose awaiting task was cancelled."""


_TRANSFER_THREADS = ThreadPoolExecutor(max_workers=256, thread_name_prefix="backup-store-transfer")


class TransferControl(threading.Event):
    """Set to stop a transfer thread; also records when a chunk last moved."""

    def __init__(self) -> None:
        super().__init__()
        self.moved = time.monotonic()


async def in_transfer_thread(
    work: Callable[[threading.Event], T], *, idle_seconds: float | None = None
) -> T:
    """Run blocking ``work(stop)`` in a transfer thread (not the shared default
    pool, so file I/O, hashing and fsync do not queue behind other work).

    When the awaiting task is cancelled, ``stop`` is set and the cancellation
    waits for ``work`` to end: nothing keeps writing after a verb has returned.
    With ``idle_seconds``, it waits no longer than a transfer may stay idle (a
    request stalled on a store that stopped answering moves nothing meanwhile).
    ``work`` should check ``stop`` between chunks (see :func:`until_stopped`).

    With ``idle_seconds``, a transfer in which no chunk moved for that long (a
    store that stopped answering) is stopped and raises
    :class:`~backup_store.errors.StoreUnavailableError`; the blocked request ends
    on its own (its source refuses any further chunk).
    """
    stop = TransferControl()
    future = asyncio.get_running_loop().run_in_executor(_TRANSFER_THREADS, work, stop)
    try:
        if not await _ended_while_moving(future, stop, idle_seconds):
            _abandon(future, stop)
            raise StoreUnavailableError(
                f"the store stopped answering: nothing for {idle_seconds:g} s"
            )
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        _abandon(future, stop)
        # A request stalled on a store that stopped answering is not waited for
        # past the idle timeout either (it ends on its own; nothing moves meanwhile).
        await _ended_while_moving(future, stop, idle_seconds)
        raise


def _abandon(future: asyncio.Future[T], stop: threading.Event) -> None:
    """Stop ``work`` whose result nobody will take: the error that ends it
    (:class:`TransferCancelled`, or one the stop provoked) follows the caller's
    own cancellation or timeout, which is what gets reported; it is retrieved
    here so that asyncio does not log it as never retrieved."""
    stop.set()
    future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _ended_while_moving(
    future: asyncio.Future[T], stop: TransferControl, idle_seconds: float | None
) -> bool:
    """Wait for ``future``; False once nothing moved for ``idle_seconds`` before it ended."""
    if idle_seconds is None:
        await asyncio.wait([future])
        return True
    while not (await asyncio.wait({future}, timeout=min(idle_seconds / 4, 1.0)))[0]:
        if time.monotonic() - stop.moved > idle_seconds:
            return False
    return True


def until_stopped(chunks: Iterable[T], stop: threading.Event) -> Iterator[T]:
    """Pass chunks through; raise :class:`TransferCancelled` once ``stop`` is set."""
    for chunk in chunks:
        if stop.is_set():
            raise TransferCancelled
        if isinstance(stop, TransferControl):
            stop.moved = time.monotonic()
        yield chunk


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(2)`` where it reports writeback errors (Linux 5.8 and later)."""
    if sys.platform != "linux":
        return None
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    if (major, minor) < (5, 8):
        return None  # earlier kernels flush but do not report writeback errors
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


SYNCFS = _syncfs()


class FolderSync:
    """Makes many files written under one folder durable at once. Blocking.

    Open it *before* the files are written: ``syncfs(2)`` on its descriptor then
    writes back the whole filesystem once and reports any writeback error that
    happened since it was opened, even one another caller's ``syncfs`` already
    reported (each descriptor keeps its own error cursor). That replaces an fsync
    per file and per folder: the cost of ``cp -r`` + ``sync -f``. Without a
    ``syncfs`` that reports errors (``use_syncfs=False``, other systems, Linux
    before 5.8), :meth:`sync` fsyncs every file, then every folder from the
    files' folders up to this one.

    Unrelated dirty data on the same filesystem is written back too: the price of
    one call instead of thousands.
    """

    def __init__(self, folder: Path, *, use_syncfs: bool = True) -> None:
        self.folder = folder
        self._syncfs = SYNCFS if use_syncfs else None
        self._fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)

    def sync(self, files: Iterable[Path]) -> None:
        """Make ``files`` (under the folder), their names and folders durable;
        raises :class:`OSError` when one may not be."""
        if self._syncfs is not None:
            if self._syncfs(self._fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"syncfs: {os.strerror(code)}", str(self.folder))
            return
        folders: set[Path] = set()
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            folder = path.parent
            while folder not in folders:
                folders.add(folder)
                if folder == self.folder or folder == folder.parent:
                    break
                folder = folder.parent
        # Deepest first: a new folder's own entries before its name in its parent.
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            fsync_directory(folder)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> FolderSync:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
