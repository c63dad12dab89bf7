"""Store URLs: ``open_store("file:///var/backups")`` and friends.

================================================ =========================================
URL                                              store
================================================ =========================================
``file:///abs/path``                             filesystem store at that directory
``s3://bucket[/base]?endpoint=&region=&...``     S3 (options: see :class:`S3Config`)
``gs://bucket[/base]?host=&...``                 GCS (options: see :class:`GcsConfig`)
``az://container?endpoint=&account_name=&...``   Azure (options: see :class:`AzureConfig`)
``memory://[base]``                              in-memory store (tests)
================================================ =========================================

Query options are the configuration fields of each store; credentials may be
given there or, better, in the environment, and are never printed back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from backup_store.errors import ConfigurationError
from backup_store.object_backup_store import ObjectBackupStore
from backup_store.stores import azure, gcs, s3
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.stores.memory import MemoryBackupStore

StoreFactory = Callable[[SplitResult], ObjectBackupStore]


def _file(url: SplitResult) -> ObjectBackupStore:
    if url.netloc not in ("", "localhost") or not url.path:
        raise ConfigurationError("a filesystem store URL is file:///absolute/path (three slashes)")
    return FilesystemBackupStore(Path(unquote(url.path)))


def _memory(url: SplitResult) -> ObjectBackupStore:
    base = (url.netloc + url.path).strip("/")
    return MemoryBackupStore(base or None)


SCHEMES: dict[str, StoreFactory] = {
    "file": _file,
    "memory": _memory,
    "s3": s3.from_url,
    "gs": gcs.from_url,
    "az": azure.from_url,
}


def open_store(url: str) -> ObjectBackupStore:
    """Open the store a URL names.

    Raises:
        ConfigurationError: unknown scheme or malformed URL (the message never
            repeats credentials given in the URL).
    """
    parsed = urlsplit(url)
    factory = SCHEMES.get(parsed.scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in sorted(SCHEMES))
        raise ConfigurationError(f"unknown store URL scheme {parsed.scheme + '://'!r}; use {known}")
    return factory(parsed)
