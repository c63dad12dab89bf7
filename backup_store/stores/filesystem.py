"""The filesystem store: Zeebe's ``<basePath>/manifests/...`` and ``<basePath>/contents/...``.

Quirks over the shared machinery: every write is durable (temporary file, fsync,
then an exclusive link or an atomic rename, then fsync of the directory), and
version-matched manifest updates compare bytes under a cross-process lock,
since a local filesystem has no e-tags. Reads, listing and deletion (with
removal of emptied folders) go through obstore's ``LocalStore``.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiofiles
from obstore.store import LocalStore
from pydantic import Field

from backup_store.errors import ConfigurationError, StoreUnavailableError
from backup_store.layout import StoreKind
from backup_store.object_backup_store import (
    DEFAULT_MAX_CONCURRENCY,
    ObjectBackupStore,
    ObjectVersion,
    WriteConflict,
)
from backup_store.stores.config import StoreConfig
from backup_store.transfer import CHUNK_SIZE, fsync_directory, write_local

if TYPE_CHECKING:
    from obstore.store import ObjectStore


class FilesystemConfig(StoreConfig):
    """Where the filesystem store keeps backups (Zeebe's ``basePath``)."""

    base_path: Path

    def __init__(self, base_path: str | os.PathLike[str] | None = None, /, **values: Any) -> None:
        if base_path is not None:
            values["base_path"] = Path(base_path)
        super().__init__(**values)

    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, ge=1)


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _make_parents(directory: Path, root: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; returns the parents to fsync."""
    missing = []
    current = directory
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    directory.mkdir(parents=True, exist_ok=True)
    return [d.parent for d in reversed(missing)]


class FilesystemBackupStore(ObjectBackupStore):
    """Backups in a local directory, in Zeebe's filesystem layout."""

    kind = StoreKind.FILESYSTEM

    def __init__(
        self,
        config: FilesystemConfig | str | os.PathLike[str] | None = None,
        *,
        base_path: str | os.PathLike[str] | None = None,
        object_store: ObjectStore | None = None,
    ) -> None:
        config = config if config is not None else base_path
        if config is None:
            raise ConfigurationError("a filesystem store needs a base path (a directory)")
        if not isinstance(config, FilesystemConfig):
            config = FilesystemConfig(base_path=Path(config))
        self.config = config
        root = config.base_path.absolute()
        if object_store is None:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreUnavailableError(
                    f"cannot create the backup directory {root}: {error.strerror}",
                    store=root.as_uri(),
                ) from None
            object_store = LocalStore(root, automatic_cleanup=True)
        # Durable local writes need the directory; over another store, write normally.
        self._root = (
            Path(object_store.prefix)
            if isinstance(object_store, LocalStore) and object_store.prefix is not None
            else None
        )
        super().__init__(
            object_store,
            description=root.as_uri(),
            max_concurrency=config.max_concurrency,
        )

    async def _write(
        self,
        key: str,
        data: bytes | AsyncIterator[bytes],
        *,
        create_only: bool = False,
        expected: ObjectVersion | None = None,
    ) -> ObjectVersion:
        if self._root is None:
            return await super()._write(key, data, create_only=create_only, expected=expected)
        path = self._root / key
        parents = await asyncio.to_thread(_make_parents, path.parent, self._root)
        temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            await write_local(temporary, _single(data) if isinstance(data, bytes) else data)
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
            await asyncio.to_thread(fsync_directory, directory)
        sha = hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else ""
        return ObjectVersion(None, None, sha)

    async def _stream(self, key: str) -> AsyncIterator[bytes]:
        if self._root is None:
            async for chunk in super()._stream(key):
                yield chunk
            return
        # Read the file directly: obstore's local reader goes in small blocks.
        async with aiofiles.open(self._root / key, "rb") as file:
            while chunk := await file.read(CHUNK_SIZE):
                yield chunk

    @asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        async with super()._exclusive(key):
            if self._root is None:
                yield
                return
            # flock on the manifest's folder also excludes other processes.
            fd = os.open(self._root / key.rsplit("/", 1)[0], os.O_RDONLY | os.O_DIRECTORY)
            try:
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock
