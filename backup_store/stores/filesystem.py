"""The filesystem store: Zeebe's ``<basePath>/manifests/...`` and ``<basePath>/contents/...``.

Durable writes, direct reads and cross-process compare-and-swap are the
filesystem variant of the seam, :class:`~backup_store.io.LocalFileIO`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote

from pydantic import Field

from backup_store.engine import DEFAULT_MAX_CONCURRENCY, ObjectBackupStore
from backup_store.errors import ConfigurationError
from backup_store.format.formats import ZEEBE_COMMON
from backup_store.io import LocalFileIO, ObstoreIO
from backup_store.registry import register
from backup_store.stores.config import StoreConfig, url_options

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


class FilesystemBackupStore(ObjectBackupStore):
    """Backups in a local directory, in Zeebe's filesystem layout.

    ``object_store`` replaces the directory by another obstore store (tests of
    isolation between kinds over the same bytes); writes are then not durable.
    """

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
        description = config.base_path.absolute().as_uri()
        io = (
            LocalFileIO(config.base_path, description=description)
            if object_store is None
            else ObstoreIO(object_store, description=description)
        )
        super().__init__(
            io, kind="filesystem", format=ZEEBE_COMMON, max_concurrency=config.max_concurrency
        )


def from_url(url: SplitResult) -> FilesystemBackupStore:
    """``file:///absolute/path``."""
    if url.netloc not in ("", "localhost") or not url.path:
        raise ConfigurationError("a filesystem store URL is file:///absolute/path (three slashes)")
    return FilesystemBackupStore(FilesystemConfig(Path(unquote(url.path)), **url_options(url)))


register("file", from_url, FilesystemConfig, FilesystemBackupStore)
