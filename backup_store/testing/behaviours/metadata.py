"""Partition metadata: ``conformance.md`` § Partition metadata (Zeebe 8.9+'s
``StoringBackupMetadata``)."""

from __future__ import annotations

import pytest

from backup_store.contract.store import BackupStore
from backup_store.errors import InvalidInputError
from backup_store.model import BackupIdentifierWildcard, BackupStatusCode
from backup_store.testing.behaviours._base import (
    ID,
    BackupFactory,
    StoreScenarios,
    objects_at_location,
    refused,
)
from backup_store.testing.data import FIXTURES_DIR
from backup_store.testing.harness import StoreHarness

FIRST = b'{"partitionId":1}'
SECOND = b'{"partitionId":2}'


class MetadataBehaviour(StoreScenarios):
    """A broker's per-partition metadata is kept as given, per partition, at Zeebe's key."""

    async def test_stored_metadata_loads_as_stored(self, store: BackupStore) -> None:
        """Given metadata stored for partition 1, when it is loaded, then it is the same bytes."""
        await store.store_backup_metadata(1, FIRST)

        assert await store.load_backup_metadata(1) == FIRST

    async def test_no_metadata_loads_as_none(self, store: BackupStore) -> None:
        """Given an empty store, when partition 1's metadata is loaded, then there is none."""
        assert await store.load_backup_metadata(1) is None

    async def test_storing_again_replaces_the_metadata(self, store: BackupStore) -> None:
        """Given stored metadata, when other bytes are stored, then those load."""
        await store.store_backup_metadata(1, b'{"version":1}')

        await store.store_backup_metadata(1, b'{"version":2}')

        assert await store.load_backup_metadata(1) == b'{"version":2}'

    async def test_the_metadata_of_partitions_is_kept_apart(self, store: BackupStore) -> None:
        """Given metadata stored for partitions 1 and 2, then each loads its own."""
        await store.store_backup_metadata(1, FIRST)
        await store.store_backup_metadata(2, SECOND)

        assert await store.load_backup_metadata(1) == FIRST
        assert await store.load_backup_metadata(2) == SECOND
        assert await store.load_backup_metadata(10) is None

    async def test_metadata_sits_where_zeebe_keeps_it(
        self, store: BackupStore, store_harness: StoreHarness
    ) -> None:
        """Given metadata stored for partition 3, then the object at Zeebe's key
        ``[base path/]metadata/3/metadata.json`` holds those bytes; and a file Zeebe
        wrote there loads as Zeebe wrote it."""
        await store.store_backup_metadata(3, FIRST)
        assert await store_harness.get_object(store_harness.metadata_key(3)) == FIRST

        zeebes = (FIXTURES_DIR / "zeebe89-metadata.json").read_bytes()
        await store_harness.put_object(store_harness.metadata_key(4), zeebes)

        assert await store.load_backup_metadata(4) == zeebes

    async def test_metadata_is_no_backup_and_outlives_the_partitions_backups(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a backup and metadata of partition 2, then only the backup is listed,
        and deleting the backup leaves the metadata."""
        backup = backup_factory()
        await store.save(backup)
        await store.store_backup_metadata(2, SECOND)

        listed = await store.list(BackupIdentifierWildcard())
        assert [(s.id, s.status_code) for s in listed] == [(backup.id, BackupStatusCode.COMPLETED)]
        await store.delete(backup.id)

        assert await store.load_backup_metadata(2) == SECOND
        assert (await store.get_status(ID(1, 2, 3))).status_code is BackupStatusCode.DOES_NOT_EXIST

    @pytest.mark.parametrize("partition_id", [0, -1, 2**31])
    async def test_a_partition_id_out_of_range_is_refused_and_nothing_is_written(
        self, store: BackupStore, store_harness: StoreHarness, partition_id: int
    ) -> None:
        """Given an empty store, when metadata is stored or loaded for partition 0, -1 or
        2^31, then the store refuses it with the invalid-input error and writes nothing."""
        with refused(InvalidInputError, f"metadata of partition {partition_id}"):
            await store.store_backup_metadata(partition_id, FIRST)
        with refused(InvalidInputError, f"loading metadata of partition {partition_id}"):
            await store.load_backup_metadata(partition_id)

        assert await objects_at_location(store_harness) == {}
