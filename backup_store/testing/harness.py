"""What the conformance suite needs from the store under test."""

from __future__ import annotations

import abc
from collections.abc import Callable

from backup_store.catalog import catalog_key
from backup_store.errors import ObjectNotFoundError
from backup_store.formats import StoreFormat
from backup_store.layout import owner_marker_key
from backup_store.manifest import ManifestForm
from backup_store.model import BackupIdentifier
from backup_store.object_backup_store import ObjectBackupStore
from backup_store.store import BackupStore


class StoreHarness(abc.ABC):
    """Opens the store under test and reaches its raw objects.

    The raw access (``put_object``, ``get_object``, ``delete_object``,
    ``list_objects``) bypasses the store under test: it is how scenarios plant
    Zeebe's own manifests, damage objects and check exactly what was written.
    Keys are relative to the store's location (bucket, container or directory),
    base path included.
    """

    #: the on-store format, which decides keys, manifest form and applicable fixtures
    format: StoreFormat
    #: the configured base path, or None
    base_path: str | None = None
    #: whether the store compresses large files
    compression: bool = False

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
        return self.format.write_layout(self.base_path, broker_version).manifest_key(backup_id)

    def file_key(
        self,
        backup_id: BackupIdentifier,
        file_set: str,
        name: str,
        broker_version: str | None = None,
    ) -> str:
        """Where ``store-format.md`` puts one file of the backup."""
        return self.format.write_layout(self.base_path, broker_version).file_key(
            backup_id, file_set, name
        )

    def extra_keys(self, backup_id: BackupIdentifier) -> set[str]:
        """This project's own objects besides Zeebe's (marker, integrity record, catalog)."""
        return set()

    @property
    def manifest_form(self) -> ManifestForm:
        return self.format.manifest_form


class ObjectStoreHarness(StoreHarness):
    """Harness for any :class:`ObjectBackupStore`, through its object I/O seam."""

    def __init__(self, open_store: Callable[[], ObjectBackupStore]) -> None:
        self._open = open_store
        probe = open_store()  # only read for its settings: it holds no resources
        self.format = probe.format
        self.base_path = probe.base_path
        self.compression = probe.compression is not None
        self._io = probe.io

    def open(self) -> ObjectBackupStore:
        return self._open()

    async def put_object(self, key: str, data: bytes) -> None:
        await self._io.put(key, data)

    async def get_object(self, key: str) -> bytes:
        found = await self._io.get(key)
        if found is None:
            raise ObjectNotFoundError(f"object not found: {key}", key=key)
        return found.data

    async def delete_object(self, key: str) -> None:
        await self._io.delete([key])

    async def list_objects(self) -> list[str]:
        return sorted(await self._io.list_keys(""))

    def extra_keys(self, backup_id: BackupIdentifier) -> set[str]:
        layout = self.format.write_layout(self.base_path, None)
        catalog = catalog_key(self.base_path, backup_id.node_id, backup_id.partition_id)
        return {owner_marker_key(self.base_path), layout.integrity_key(backup_id), catalog}
