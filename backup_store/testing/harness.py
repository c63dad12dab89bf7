"""What the conformance kit needs from the store under test."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable

from backup_store.contract.store import BackupStore
from backup_store.engine import ObjectBackupStore
from backup_store.errors import ObjectNotFoundError
from backup_store.format.formats import StoreFormat
from backup_store.format.keys import owner_marker_key, partition_metadata_key, shard_key
from backup_store.format.manifest import ManifestForm
from backup_store.io import HookedIO, Request
from backup_store.model import BackupIdentifier

RequestHook = Callable[[Request], Awaitable[None]]
"""Awaited before each object request a hooked store makes (see :meth:`open_hooked`)."""


class StoreHarness(abc.ABC):
    """Opens the store under test and reaches its raw objects.

    The raw access (:meth:`put_object`, :meth:`get_object`, :meth:`delete_object`,
    :meth:`list_objects`) bypasses the store under test: it never goes through the
    store's verbs, so scenarios can plant Zeebe's own manifests, damage stored files
    and check exactly what was written. Keys are relative to the store's location
    (bucket, container or directory), base path included, and follow the store's
    on-store :attr:`format`.
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

    def open_hooked(self, hook: RequestHook) -> BackupStore:
        """A new store instance whose every object request first awaits ``hook``.

        The concurrency scenarios use it to hold one writer at a chosen request
        while another writer runs. A harness whose store has no object I/O seam
        cannot offer it; those scenarios then fail saying so.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot hook the store's object requests: implement "
            "StoreHarness.open_hooked to run the concurrency scenarios"
        )

    @abc.abstractmethod
    async def put_object(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``, replacing any object there (bypasses the store)."""

    @abc.abstractmethod
    async def get_object(self, key: str) -> bytes:
        """The bytes stored at ``key`` (bypasses the store)."""

    @abc.abstractmethod
    async def delete_object(self, key: str) -> None:
        """Remove the object at ``key`` (bypasses the store)."""

    @abc.abstractmethod
    async def list_objects(self) -> list[str]:
        """Every key at the location, sorted (bypasses the store)."""

    async def close(self) -> None:  # noqa: B027 - optional: most harnesses hold nothing
        """Release what the harness holds; the kit calls it after every scenario."""

    def manifest_key(self, backup_id: BackupIdentifier, broker_version: str | None = None) -> str:
        """Where ``store-format.md`` puts the backup's manifest in the store's format."""
        return self.format.write_layout(self.base_path, broker_version).manifest_key(backup_id)

    def file_key(
        self,
        backup_id: BackupIdentifier,
        file_set: str,
        name: str,
        broker_version: str | None = None,
    ) -> str:
        """Where ``store-format.md`` puts one file of the backup in the store's format."""
        return self.format.write_layout(self.base_path, broker_version).file_key(
            backup_id, file_set, name
        )

    def metadata_key(self, partition_id: int) -> str:
        """Where Zeebe 8.9+'s stores keep a partition's backup metadata."""
        return partition_metadata_key(self.base_path, partition_id)

    def extra_keys(self, backup_id: BackupIdentifier) -> set[str]:
        """This project's own objects besides Zeebe's (marker, integrity record, catalog)."""
        return set()

    @property
    def manifest_form(self) -> ManifestForm:
        """How the store's manifests are written (S3's form or the common one)."""
        return self.format.manifest_form


class ObjectStoreHarness(StoreHarness):
    """Harness for any :class:`ObjectBackupStore`, through its object I/O seam.

    ``open_store`` must return a new store instance over the same location on every
    call. One instance (the probe) tells the harness the store's format, base path
    and object I/O; the raw access goes straight to that object I/O, never through
    the store's verbs. The probe is closed with the harness.
    """

    def __init__(self, open_store: Callable[[], ObjectBackupStore]) -> None:
        self._open = open_store
        self._probe = open_store()
        self.format = self._probe.format
        self.base_path = self._probe.base_path
        self.compression = self._probe.compression is not None
        self._io = self._probe.io

    def open(self) -> ObjectBackupStore:
        return self._open()

    def open_hooked(self, hook: RequestHook) -> ObjectBackupStore:
        """A new store whose every object request (marker and catalog included) goes
        through a :class:`HookedIO`."""
        store = self._open()
        store.wrap_io(lambda io: HookedIO(io, hook))
        return store

    async def close(self) -> None:
        await self._probe.close()

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
        """The ownership marker and the backup's integrity record."""
        layout = self.format.write_layout(self.base_path, None)
        # (The first catalog shard of the backup's node and partition.)
        catalog = shard_key(self.base_path, backup_id.node_id, backup_id.partition_id, 0)
        return {owner_marker_key(self.base_path), layout.integrity_key(backup_id), catalog}
