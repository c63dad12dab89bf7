""":class:`LocalFileIO`: the filesystem variant of :class:`~backup_store.io.obstore.ObstoreIO`:
durable writes (temporary file, fsync, exclusive link or atomic rename, directory
fsync), data uploads written in place and made durable together (one ``syncfs``),
direct file reads, and version-matched writes emulated under a cross-process ``flock``.
"""

from __future__ import annotations

import asyncio
import builtins
import errno
import fcntl
import os
import stat
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiofiles
from obstore.store import LocalStore

from backup_store.errors import (
    ObjectTooLargeError,
    StoreUnavailableError,
)
from backup_store.io.base import (
    READ_WHOLE_LIMIT,
    CopyReach,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    UploadGroup,
    WriteConflict,
)
from backup_store.io.errors import translate_error
from backup_store.io.obstore import LIST_PAGE, ObstoreIO, sha256_of
from backup_store.transfer.durability import FolderSync, fsync_directory
from backup_store.transfer.files import CHUNK_SIZE, Chunk, read_whole_file, write_chunks
from backup_store.transfer.threads import blocking, in_transfer_thread, until_stopped

T = TypeVar("T")

FOLDER_ATTEMPTS = 5
"""Times a write makes its folder again when a concurrent delete removes it."""
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_NO_LINKS = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})
"""Why a filesystem refuses a hard link that a copy of the bytes can replace."""


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
        # A local file reads as fast in one stream as in ranges.
        super().__init__(
            LocalStore(root, automatic_cleanup=True), description=description, ranged_reads=False
        )
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
        return ObjectVersion(token, None, sha256_of(data))

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

    def download_memory(self, size: int) -> int:
        return min(size, CHUNK_SIZE)  # one reused buffer

    def reach(self) -> CopyReach | None:
        # Hard links reach every folder of the device (once the folder exists).
        try:
            return CopyReach(f"file device {self.root.stat().st_dev}", str(self.root))
        except OSError:
            return None

    async def start_copy(
        self, source: str, key: str, *, source_location: str | None = None
    ) -> bool:
        original = Path(source_location or self.root) / source
        await in_transfer_thread(lambda _stop: self._link_or_copy(original, key))
        return False

    def _link_or_copy(self, original: Path, key: str) -> None:
        """A hard link at ``key`` to the file ``original`` (both then name one file:
        damage written in place into one reaches the other), else a copy of its bytes
        where the filesystem refuses links; not yet durable (:meth:`upload_group`)."""
        path = self.root / key
        with self._translated(key):
            for _attempt in range(FOLDER_ATTEMPTS):
                try:
                    os.link(original, path)
                    return
                except FileExistsError:
                    path.unlink(missing_ok=True)  # never written through: it may be a link
                except FileNotFoundError:
                    if not original.is_file():
                        raise
                    _make_folders(path.parent, self.root)
                except OSError as error:
                    if error.errno not in _NO_LINKS:
                        raise
                    break
            with open(original, "rb") as data:
                chunks = iter(lambda: data.read(CHUNK_SIZE), b"")
                self._write_in_place(key, chunks, threading.Event())

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
                return StoredObject(data, ObjectVersion(after, None, sha256_of(data)))
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
