"""What the conformance suite needs from the store under test."""

from __future__ import annotations

import abc
from collections.abc import Callable

import obstore

from backup_store.layout import StoreKind, owner_marker_key, write_layout
from backup_store.manifest import ManifestForm
from backup_store.model import BackupIdentifier
from backup_store.object_backup_store import ObjectBackupStore
from backup_store.store import BackupStore


class StoreHarness(abc.ABC):
    """Opens the store under test and reaches its raw objects.

    Keys are relative to the store's location (bucket, container or directory),
    base path included.
    """

    #: the store kind, which decides manifest form and the fixtures that apply
    kind: StoreKind
    #: the configured base path, or None
    base_path: str | None = None

    @abc.abstractmethod
    def open(self) -> BackupStore:
        """A new store instance over the harness's single location."""

    @abc.abstractmethod
    async def put_object(self, key: str, data: bytes) -> None: ...

    @abc.abstractmethod
    async def get_object(self, key: str) -> bytes: ...

    @abc.abstractmethod
    async def delete_object(self, key: str) -> None: ...

    @abc.abstractmethod
    async def list_objects(self) -> list[str]:
        """Every key at the location."""

    def manifest_key(self, backup_id: BackupIdentifier, broker_version: str | None = None) -> str:
        """Where ``store-format.md`` puts the backup's manifest."""
        return write_layout(self.kind, self.base_path, broker_version).manifest_key(backup_id)

    def file_key(
        self,
        backup_id: BackupIdentifier,
        file_set: str,
        name: str,
        broker_version: str | None = None,
    ) -> str:
        """Where ``store-format.md`` puts one file of the backup."""
        return write_layout(self.kind, self.base_path, broker_version).file_key(
            backup_id, file_set, name
        )

    def extra_keys(self, backup_id: BackupIdentifier) -> set[str]:
        """This project's own objects besides Zeebe's (marker and integrity record)."""
        return set()

    @property
    def manifest_form(self) -> ManifestForm:
        return self.kind.manifest_form


class ObjectStoreHarness(StoreHarness):
    """Harness for any :class:`ObjectBackupStore`, through its obstore store."""

    def __init__(self, open_store: Callable[[], ObjectBackupStore]) -> None:
        self._open = open_store
        probe = open_store()
        self.kind = probe.kind
        self.base_path = probe.base_path
        self.compression = probe.compression is not None
        self._raw = probe.object_store

    def open(self) -> ObjectBackupStore:
        return self._open()

    async def put_object(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._raw, key, data)

    async def get_object(self, key: str) -> bytes:
        result = await obstore.get_async(self._raw, key)
        return bytes(await result.bytes_async())

    async def delete_object(self, key: str) -> None:
        await obstore.delete_async(self._raw, key)

    async def list_objects(self) -> list[str]:
        keys: list[str] = []
        async for batch in obstore.list(self._raw, None, chunk_size=1000):
            keys.extend(m["path"] for m in batch)
        return sorted(keys)

    def extra_keys(self, backup_id: BackupIdentifier) -> set[str]:
        layout = write_layout(self.kind, self.base_path, None)
        return {owner_marker_key(self.base_path), layout.integrity_key(backup_id)}
